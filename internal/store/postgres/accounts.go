package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Accounts are not tenant-scoped (no row-level security on these tables): a request
// looks them up to learn who its tenant is. Queries still name the user where the
// interface gives one.

const userCols = "id, email, name, password_hash, is_admin, created_at, updated_at"

func scanUser(r pgx.Row) (*store.User, error) {
	var u store.User
	if err := r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.IsAdmin, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// CreateUser implements store.Accounts.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	u.Prepare()
	_, err := s.pool.Exec(ctx, "INSERT INTO users ("+userCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		u.ID, u.Email, u.Name, u.PasswordHash, u.IsAdmin, u.CreatedAt, u.UpdatedAt)
	if err != nil {
		return fmt.Errorf("create user: %w", translate(err))
	}
	return nil
}

// GetUser implements store.Accounts.
func (s *Store) GetUser(ctx context.Context, id uuid.UUID) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// GetUserByEmail implements store.Accounts.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE email = $1", email))
	if err != nil {
		return nil, fmt.Errorf("get user by email: %w", err)
	}
	return u, nil
}

const apiKeyCols = "id, user_id, name, prefix, hash, created_at, last_used_at, revoked_at"

func scanAPIKey(r pgx.Row) (*store.APIKey, error) {
	var k store.APIKey
	if err := r.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, translate(err)
	}
	return &k, nil
}

// CreateAPIKey implements store.Accounts.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	k.Prepare()
	_, err := s.pool.Exec(ctx, "INSERT INTO api_keys ("+apiKeyCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		k.ID, k.UserID, k.Name, k.Prefix, k.Hash, k.CreatedAt, k.LastUsedAt, k.RevokedAt)
	if err != nil {
		return fmt.Errorf("create api key: %w", translate(err))
	}
	return nil
}

// GetAPIKeyByHash implements store.Accounts. A revoked key is returned too, with
// RevokedAt set; deciding what a revoked key means is the caller's business.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = $1", hash))
	if err != nil {
		return nil, fmt.Errorf("get api key: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements store.Accounts.
func (s *Store) ListAPIKeys(ctx context.Context, userID uuid.UUID, page store.Page) ([]store.APIKey, error) {
	after, limit := pageCursor(page)
	rows, err := s.pool.Query(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
		userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", translate(err))
	}
	keys, err := collect(rows, scanAPIKey)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey implements store.Accounts.
func (s *Store) RevokeAPIKey(ctx context.Context, userID, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx,
		"UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
		id, userID, store.Now())
	if err := affected(tag.RowsAffected(), err); err != nil {
		return fmt.Errorf("revoke api key %s: %w", id, err)
	}
	return nil
}

// TouchAPIKey implements store.Accounts.
func (s *Store) TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	tag, err := s.pool.Exec(ctx, "UPDATE api_keys SET last_used_at = $2 WHERE id = $1", id, at)
	if err := affected(tag.RowsAffected(), err); err != nil {
		return fmt.Errorf("touch api key %s: %w", id, err)
	}
	return nil
}

const sessionCols = "token_hash, user_id, csrf_token, ip, user_agent, created_at, last_seen_at, expires_at"

// CreateSession implements store.Accounts.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	sess.Prepare()
	_, err := s.pool.Exec(ctx, "INSERT INTO sessions ("+sessionCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		sess.TokenHash, sess.UserID, sess.CSRFToken, sess.IP, sess.UserAgent, sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create session: %w", translate(err))
	}
	return nil
}

// GetSession implements store.Accounts.
func (s *Store) GetSession(ctx context.Context, tokenHash []byte, now time.Time) (*store.Session, error) {
	var sess store.Session
	err := s.pool.QueryRow(ctx, "SELECT "+sessionCols+" FROM sessions WHERE token_hash = $1 AND expires_at > $2",
		tokenHash, now).Scan(&sess.TokenHash, &sess.UserID, &sess.CSRFToken, &sess.IP, &sess.UserAgent,
		&sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt)
	if err != nil {
		return nil, fmt.Errorf("get session: %w", translate(err))
	}
	return &sess, nil
}

// TouchSession implements store.Accounts.
func (s *Store) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	tag, err := s.pool.Exec(ctx, "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1", tokenHash, at)
	if err := affected(tag.RowsAffected(), err); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession implements store.Accounts. Deleting a session that is already gone is
// not an error: logging out twice is fine.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE token_hash = $1", tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", translate(err))
	}
	return nil
}

// DeleteExpiredSessions implements store.Accounts.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE expires_at <= $1", now)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", translate(err))
	}
	return tag.RowsAffected(), nil
}

// affected reports ErrNotFound when a write matched no row.
func affected(n int64, err error) error {
	if err != nil {
		return translate(err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
