package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/ratelimit"
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

	// HashConcurrency bounds the argon2id computations (signup, login) running at
	// once, each holding Argon2.Memory (default max(2, GOMAXPROCS)).
	HashConcurrency int
	// HashWait is how long a password check waits for a free slot before ErrBusy
	// (default 1s; negative: not at all).
	HashWait time.Duration
	// BeforeHash, when set, runs with a slot held just before each argon2id
	// computation: instrumentation (tests hold slots with it).
	BeforeHash func()

	// Limiter counts failed logins per account and per client address: a
	// ratelimit.Redis shares the counts across replicas; nil counts in process.
	Limiter Limiter
	// AccountLimit and AddressLimit are the failed-login budgets (zero:
	// DefaultAccountLimit, DefaultAddressLimit).
	AccountLimit ratelimit.Limit
	AddressLimit ratelimit.Limit
}

// Stats are the service's running totals and gauges, for metrics.
type Stats struct {
	HashSlots   int   // the bound on concurrent argon2id computations
	HashRunning int64 // computations running now
	HashPeak    int64 // the most ever running at once
	HashBusy    int64 // checks refused with ErrBusy
	// LoginsThrottled are logins refused by a failed-login limit; LoginFailures are
	// wrong passwords and unknown emails.
	LoginsThrottled int64
	LoginFailures   int64
	// LimiterErrors are failed calls to the shared limiter (the throttle counted in
	// process instead, or a refund was lost).
	LimiterErrors int64
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
	gate      *hashGate
	throttle  *throttle

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
	if cfg.HashConcurrency <= 0 {
		cfg.HashConcurrency = max(2, runtime.GOMAXPROCS(0))
	}
	if cfg.HashWait == 0 {
		cfg.HashWait = time.Second
	}
	if cfg.AccountLimit == (ratelimit.Limit{}) {
		cfg.AccountLimit = DefaultAccountLimit
	}
	if cfg.AddressLimit == (ratelimit.Limit{}) {
		cfg.AddressLimit = DefaultAddressLimit
	}
	for _, l := range []ratelimit.Limit{cfg.AccountLimit, cfg.AddressLimit} {
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("auth: failed-login limit: %w", err)
		}
	}
	fallback := ratelimit.NewMemory(nil)
	if cfg.Limiter == nil {
		cfg.Limiter = fallback
	}
	dummy, err := dummyPasswordHash(cfg.Argon2)
	if err != nil {
		return nil, err
	}
	return &Service{accounts: accounts, log: log, cfg: cfg, now: store.Now, dummyHash: dummy, keys: map[string]cachedKey{},
		gate:     newHashGate(cfg.HashConcurrency, cfg.HashWait, cfg.BeforeHash),
		throttle: &throttle{lim: cfg.Limiter, fallback: fallback, account: cfg.AccountLimit, address: cfg.AddressLimit, log: log},
	}, nil
}

// Stats returns the service's running totals.
func (s *Service) Stats() Stats {
	return Stats{
		HashSlots:       cap(s.gate.slots),
		HashRunning:     s.gate.running.Load(),
		HashPeak:        s.gate.peak.Load(),
		HashBusy:        s.gate.busy.Load(),
		LoginsThrottled: s.throttle.throttled.Load(),
		LoginFailures:   s.throttle.failures.Load(),
		LimiterErrors:   s.throttle.errs.Load(),
	}
}

// NormalizeEmail lower-cases and trims an email address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Signup creates an account. The caller checks email, name and password first
// (ValidateSignup, or its own rules for an operator's account).
// It returns ErrBusy when no hashing slot came free in time.
func (s *Service) Signup(ctx context.Context, email, name, password string, admin bool) (*store.User, error) {
	var hash string
	var err error
	if gerr := s.gate.do(ctx, func() { hash, err = HashPassword(password, s.cfg.Argon2) }); gerr != nil {
		return nil, gerr
	}
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

// CheckLogin returns the user whose email and password match, or
// ErrInvalidCredentials. ip is the client's address (empty: only the account's limit
// applies). Past a failed-login limit, of the account or of the address, it returns a
// *ThrottledError (ErrThrottled) without checking the password, whether or not it is
// right; when no hashing slot comes free in time, ErrBusy. Only failures count
// against the limits.
func (s *Service) CheckLogin(ctx context.Context, email, password, ip string) (*store.User, error) {
	email = NormalizeEmail(email)
	units, err := s.throttle.reserve(ctx, email, ip)
	if err != nil {
		return nil, err
	}
	u, err := s.checkLogin(ctx, email, password)
	if errors.Is(err, ErrInvalidCredentials) {
		s.throttle.failures.Add(1)
	} else {
		s.throttle.refund(ctx, units)
	}
	return u, err
}

func (s *Service) checkLogin(ctx context.Context, email, password string) (*store.User, error) {
	u, err := s.accounts.GetUserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("login: %w", err)
	}
	encoded := s.dummyHash
	if err == nil {
		encoded = u.PasswordHash
	}
	var ok bool
	var cerr error
	if gerr := s.gate.do(ctx, func() { ok, cerr = CheckPassword(password, encoded) }); gerr != nil {
		return nil, gerr
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalidCredentials
	case cerr != nil:
		return nil, fmt.Errorf("login: user %s: %w", u.ID, cerr)
	case !ok:
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
