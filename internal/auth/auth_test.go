package auth_test

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/auth"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
)

var fast = auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword("correct horse", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not an argon2id PHC string", h)
	}
	h2, _ := auth.HashPassword("correct horse", fast)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt missing")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse", true}, {"correct horse ", false}, {"", false}} {
		ok, err := auth.CheckPassword(tc.pw, h)
		if err != nil || ok != tc.want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "$argon2id$v=19$m=1024,t=1,p=1$!!$AA"} {
		if _, err := auth.CheckPassword("x", bad); err == nil {
			t.Errorf("CheckPassword accepted malformed hash %q", bad)
		}
	}
}

func TestAPIKeyShape(t *testing.T) {
	key, prefix, hash := auth.NewAPIKey()
	if !auth.LooksLikeAPIKey(key) || !strings.HasPrefix(key, prefix) || len(hash) != 32 {
		t.Fatalf("key %q prefix %q hash %d bytes", key, prefix, len(hash))
	}
	if strings.Contains(string(hash), key) {
		t.Fatal("hash contains the key")
	}
	other, _, _ := auth.NewAPIKey()
	if other == key {
		t.Fatal("two keys are equal")
	}
}

func TestServiceFlows(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(st, slog.New(slog.DiscardHandler), auth.Config{Argon2: fast})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	u, err := svc.Signup(ctx, " Ada@Example.COM ", "Ada", "s3cret-pass", false)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.com" {
		t.Fatalf("email not normalised: %q", u.Email)
	}
	if _, err := svc.Signup(ctx, "ada@example.com", "Ada", "another-pass", false); !errors.Is(err, auth.ErrEmailTaken) {
		t.Fatalf("duplicate signup: %v", err)
	}
	if _, err := svc.CheckLogin(ctx, "ADA@example.com", "s3cret-pass", ""); err != nil {
		t.Fatalf("login: %v", err)
	}
	_, errWrong := svc.CheckLogin(ctx, "ada@example.com", "wrong", "")
	_, errUnknown := svc.CheckLogin(ctx, "nobody@example.com", "wrong", "")
	if !errors.Is(errWrong, auth.ErrInvalidCredentials) || errWrong.Error() != errUnknown.Error() {
		t.Fatalf("wrong password %v and unknown email %v must be the same error", errWrong, errUnknown)
	}

	token, sess, err := svc.NewSession(ctx, u.ID, "127.0.0.1", "ua")
	if err != nil {
		t.Fatal(err)
	}
	s2, u2, err := svc.SessionUser(ctx, token)
	if err != nil || u2.ID != u.ID || s2.CSRFToken != sess.CSRFToken {
		t.Fatalf("SessionUser: %v %+v", err, u2)
	}
	if _, _, err := svc.SessionUser(ctx, token+"x"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("tampered token: %v", err)
	}
	if err := svc.EndSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SessionUser(ctx, token); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("ended session still works: %v", err)
	}

	key, k, err := svc.CreateAPIKey(ctx, u.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	k2, u3, err := svc.APIKeyUser(ctx, key)
	if err != nil || u3.ID != u.ID || k2.ID != k.ID {
		t.Fatalf("APIKeyUser: %v", err)
	}
	stored, _ := st.GetAPIKeyByHash(ctx, auth.HashToken(key))
	if stored.LastUsedAt == nil {
		t.Fatal("last-used time not recorded")
	}
	if err := svc.RevokeAPIKey(ctx, u.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.APIKeyUser(ctx, key); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("revoked key still works: %v", err)
	}
	// Revoked by another process (straight in the store): honoured once the cache
	// entry expires; with the cache off, at once.
	nocache, err := auth.New(st, slog.New(slog.DiscardHandler), auth.Config{Argon2: fast, KeyCacheTTL: -1})
	if err != nil {
		t.Fatal(err)
	}
	key2, k2, err := nocache.CreateAPIKey(ctx, u.ID, "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := nocache.APIKeyUser(ctx, key2); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeAPIKey(ctx, u.ID, k2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := nocache.APIKeyUser(ctx, key2); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("key revoked in the store still works without a cache: %v", err)
	}
}
