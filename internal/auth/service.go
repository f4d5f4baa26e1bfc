package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Errors the HTTP layer maps to responses.
var (
	// ErrInvalidCredentials is returned for a wrong password and an unknown email alike.
	ErrInvalidCredentials = errors.New("invalid email or password")
	// ErrEmailTaken is returned by Signup for an email that already has an account.
	ErrEmailTaken = errors.New("email already registered")
	// ErrUnauthenticated means the credential is missing, unknown, revoked or expired.
	ErrUnauthenticated = errors.New("unauthenticated")
)

// Config tunes the service.
type Config struct {
	Argon2     Argon2Params
	SessionTTL time.Duration
	// KeyCacheTTL is how long a verified API key is remembered in process (default
	// 10s; negative disables). Revoking through this Service takes effect at once here;
	// another process notices within the TTL.
	KeyCacheTTL time.Duration
}

// maxCachedKeys bounds the key cache; when full it starts over.
const maxCachedKeys = 10000

type cachedKey struct {
	key     store.APIKey
	user    store.User
	expires time.Time
}

// Service implements signup, login, sessions and API keys over the store.
type Service struct {
	accounts store.Accounts
	log      *slog.Logger
	cfg      Config
	now      func() time.Time
	// dummyHash is verified when an email is unknown, so a login takes as long
	// whether or not the account exists.
	dummyHash string

	mu   sync.Mutex
	keys map[string]cachedKey // by key hash
}

// New returns a Service. Zero Config fields take defaults.
func New(accounts store.Accounts, log *slog.Logger, cfg Config) (*Service, error) {
	if cfg.Argon2.Memory == 0 {
		cfg.Argon2 = DefaultArgon2
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.KeyCacheTTL == 0 {
		cfg.KeyCacheTTL = 10 * time.Second
	}
	dummy, err := HashPassword(randomToken(16), cfg.Argon2)
	if err != nil {
		return nil, err
	}
	return &Service{accounts: accounts, log: log, cfg: cfg, now: store.Now, dummyHash: dummy, keys: map[string]cachedKey{}}, nil
}

// NormalizeEmail lower-cases and trims an email address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Signup creates an account. The caller validates email, name and password first.
func (s *Service) Signup(ctx context.Context, email, name, password string, admin bool) (*store.User, error) {
	hash, err := HashPassword(password, s.cfg.Argon2)
	if err != nil {
		return nil, err
	}
	u := &store.User{Email: NormalizeEmail(email), Name: name, PasswordHash: hash, IsAdmin: admin}
	if err := s.accounts.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, ErrEmailTaken
		}
		return nil, fmt.Errorf("signup: %w", err)
	}
	return u, nil
}

// CheckLogin returns the user whose email and password match, or ErrInvalidCredentials.
func (s *Service) CheckLogin(ctx context.Context, email, password string) (*store.User, error) {
	u, err := s.accounts.GetUserByEmail(ctx, NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		_, _ = CheckPassword(password, s.dummyHash)
		return nil, ErrInvalidCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	ok, err := CheckPassword(password, u.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("login: user %s: %w", u.ID, err)
	}
	if !ok {
		return nil, ErrInvalidCredentials
	}
	return u, nil
}

// NewSession starts a session for the user and returns the cookie token (only its hash
// is stored) and the session with its CSRF token.
func (s *Service) NewSession(ctx context.Context, userID uuid.UUID, ip, userAgent string) (string, *store.Session, error) {
	token := NewSessionToken()
	sess := &store.Session{
		TokenHash: HashToken(token),
		UserID:    userID,
		CSRFToken: NewCSRFToken(),
		IP:        ip,
		UserAgent: truncate(userAgent, 512),
		ExpiresAt: s.now().Add(s.cfg.SessionTTL),
	}
	if err := s.accounts.CreateSession(ctx, sess); err != nil {
		return "", nil, fmt.Errorf("new session: %w", err)
	}
	return token, sess, nil
}

// SessionUser resolves a session cookie token to its session and user.
func (s *Service) SessionUser(ctx context.Context, token string) (*store.Session, *store.User, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, ErrUnauthenticated
	}
	sess, err := s.accounts.GetSession(ctx, HashToken(token), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := s.accounts.GetUser(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, err
	}
	return sess, u, nil
}

// EndSession deletes the session behind a cookie token.
func (s *Service) EndSession(ctx context.Context, token string) error {
	return s.accounts.DeleteSession(ctx, HashToken(token))
}

// CreateAPIKey makes a new key for the user and returns it in clear; it is never
// retrievable again.
func (s *Service) CreateAPIKey(ctx context.Context, userID uuid.UUID, name string) (string, *store.APIKey, error) {
	key, prefix, hash := NewAPIKey()
	k := &store.APIKey{UserID: userID, Name: name, Prefix: prefix, Hash: hash}
	if err := s.accounts.CreateAPIKey(ctx, k); err != nil {
		return "", nil, fmt.Errorf("create api key: %w", err)
	}
	return key, k, nil
}

// APIKeyUser resolves a bearer API key to its key record and user, and records its use.
func (s *Service) APIKeyUser(ctx context.Context, key string) (*store.APIKey, *store.User, error) {
	if !LooksLikeAPIKey(key) {
		return nil, nil, ErrUnauthenticated
	}
	hash := HashToken(key)
	now := s.now()
	s.mu.Lock()
	c, ok := s.keys[string(hash)]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		k, u := c.key, c.user
		return &k, &u, nil
	}
	k, u, err := s.lookupKey(ctx, hash, now)
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.KeyCacheTTL > 0 {
		s.mu.Lock()
		if len(s.keys) >= maxCachedKeys {
			s.keys = map[string]cachedKey{}
		}
		s.keys[string(hash)] = cachedKey{key: *k, user: *u, expires: now.Add(s.cfg.KeyCacheTTL)}
		s.mu.Unlock()
	}
	return k, u, nil
}

// RevokeAPIKey revokes one of the user's keys; this process stops accepting it at once.
func (s *Service) RevokeAPIKey(ctx context.Context, userID, id uuid.UUID) error {
	if err := s.accounts.RevokeAPIKey(ctx, userID, id); err != nil {
		return err
	}
	s.mu.Lock()
	for h, c := range s.keys {
		if c.key.ID == id {
			delete(s.keys, h)
		}
	}
	s.mu.Unlock()
	return nil
}

func (s *Service) lookupKey(ctx context.Context, hash []byte, now time.Time) (*store.APIKey, *store.User, error) {
	k, err := s.accounts.GetAPIKeyByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, err
	}
	if k.RevokedAt != nil {
		return nil, nil, ErrUnauthenticated
	}
	u, err := s.accounts.GetUser(ctx, k.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, err
	}
	// Only write last-used when it moved noticeably: a key used 100 times a second
	// should not cost 100 writes a second.
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		if err := s.accounts.TouchAPIKey(ctx, k.ID, now); err != nil {
			s.log.Warn("record api key use", slog.String("key_id", k.ID.String()), slog.String("error", err.Error()))
		} else {
			k.LastUsedAt = &now
		}
	}
	return k, u, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
