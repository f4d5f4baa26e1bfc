package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// APIKeyPrefix starts every API key, so a leaked key is recognisable (and redactable).
const APIKeyPrefix = "vc_"

// apiKeyDisplayLen is how much of a key is kept in clear to help users recognise it.
const apiKeyDisplayLen = len(APIKeyPrefix) + 8

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error()) // the OS has no entropy left; nothing is safe now
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewAPIKey returns a fresh key ("vc_" + 256 random bits), its display prefix, and the
// SHA-256 hash that is all the database keeps. A key has enough entropy that a fast
// hash is safe; argon2 is for low-entropy passwords.
func NewAPIKey() (key, prefix string, hash []byte) {
	key = APIKeyPrefix + randomToken(32)
	return key, key[:apiKeyDisplayLen], HashToken(key)
}

// LooksLikeAPIKey reports whether s has the shape of a Vibe Coder API key.
func LooksLikeAPIKey(s string) bool {
	return strings.HasPrefix(s, APIKeyPrefix) && len(s) == len(APIKeyPrefix)+43
}

// HashToken is the SHA-256 of a secret token (API key or session token).
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// NewSessionToken returns a random session token for the cookie.
func NewSessionToken() string { return randomToken(32) }

// NewCSRFToken returns a random CSRF token bound to one session.
func NewCSRFToken() string { return randomToken(32) }

// EqualTokens compares two secrets in constant time.
func EqualTokens(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
