package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

const userCols = "id, email, name, password_hash, is_admin, created_at, updated_at"

func scanUser(r scanner) (*store.User, error) {
	var u store.User
	var created, updated string
	if err := r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.IsAdmin, &created, &updated); err != nil {
		return nil, translate(err)
	}
	var err error
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if u.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser implements store.Accounts.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	u.Prepare()
	_, err := s.w(ctx).ExecContext(ctx, "INSERT INTO users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		u.ID.String(), u.Email, u.Name, u.PasswordHash, u.IsAdmin, fmtTime(u.CreatedAt), fmtTime(u.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create user: %w", translate(err))
	}
	return nil
}

// GetUser implements store.Accounts.
func (s *Store) GetUser(ctx context.Context, id uuid.UUID) (*store.User, error) {
	u, err := scanUser(s.r(ctx).QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE id = ?", id.String()))
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, err)
	}
	return u, nil
}

// GetUserByEmail implements store.Accounts.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*store.User, error) {
	u, err := scanUser(s.r(ctx).QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE email = ?", email))
	if err != nil {
		return nil, fmt.Errorf("get user by email: %w", err)
	}
	return u, nil
}

const apiKeyCols = "id, user_id, name, prefix, hash, created_at, last_used_at, revoked_at"

func scanAPIKey(r scanner) (*store.APIKey, error) {
	var k store.APIKey
	var created string
	var lastUsed, revoked sql.NullString
	if err := r.Scan(&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &created, &lastUsed, &revoked); err != nil {
		return nil, translate(err)
	}
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if k.LastUsedAt, err = parseTimePtr(lastUsed); err != nil {
		return nil, err
	}
	if k.RevokedAt, err = parseTimePtr(revoked); err != nil {
		return nil, err
	}
	return &k, nil
}

// CreateAPIKey implements store.Accounts.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	k.Prepare()
	_, err := s.w(ctx).ExecContext(ctx, "INSERT INTO api_keys ("+apiKeyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		k.ID.String(), k.UserID.String(), k.Name, k.Prefix, k.Hash, fmtTime(k.CreatedAt), fmtTimePtr(k.LastUsedAt), fmtTimePtr(k.RevokedAt))
	if err != nil {
		return fmt.Errorf("create api key: %w", translate(err))
	}
	return nil
}

// GetAPIKeyByHash implements store.Accounts.
func (s *Store) GetAPIKeyByHash(ctx context.Context, hash []byte) (*store.APIKey, error) {
	k, err := scanAPIKey(s.r(ctx).QueryRowContext(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE hash = ?", hash))
	if err != nil {
		return nil, fmt.Errorf("get api key: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements store.Accounts.
func (s *Store) ListAPIKeys(ctx context.Context, userID uuid.UUID, page store.Page) ([]store.APIKey, error) {
	clause, args := pageClause(page)
	rows, err := s.r(ctx).QueryContext(ctx, "SELECT "+apiKeyCols+" FROM api_keys WHERE user_id = ?"+clause,
		append([]any{userID.String()}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return collect(rows, scanAPIKey)
}

// RevokeAPIKey implements store.Accounts.
func (s *Store) RevokeAPIKey(ctx context.Context, userID, id uuid.UUID) error {
	err := mustAffect(s.w(ctx).ExecContext(ctx,
		"UPDATE api_keys SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
		fmtTime(store.Now()), id.String(), userID.String()))
	if err != nil {
		return fmt.Errorf("revoke api key %s: %w", id, err)
	}
	return nil
}

// TouchAPIKey implements store.Accounts.
func (s *Store) TouchAPIKey(ctx context.Context, id uuid.UUID, at time.Time) error {
	err := mustAffect(s.w(ctx).ExecContext(ctx, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", fmtTime(at), id.String()))
	if err != nil {
		return fmt.Errorf("touch api key %s: %w", id, err)
	}
	return nil
}

const sessionCols = "token_hash, user_id, csrf_token, ip, user_agent, created_at, last_seen_at, expires_at"

// CreateSession implements store.Accounts.
func (s *Store) CreateSession(ctx context.Context, sess *store.Session) error {
	sess.Prepare()
	_, err := s.w(ctx).ExecContext(ctx, "INSERT INTO sessions ("+sessionCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		sess.TokenHash, sess.UserID.String(), sess.CSRFToken, sess.IP, sess.UserAgent,
		fmtTime(sess.CreatedAt), fmtTime(sess.LastSeenAt), fmtTime(sess.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session: %w", translate(err))
	}
	return nil
}

// GetSession implements store.Accounts.
func (s *Store) GetSession(ctx context.Context, tokenHash []byte, now time.Time) (*store.Session, error) {
	var sess store.Session
	var created, seen, expires string
	err := s.r(ctx).QueryRowContext(ctx, "SELECT "+sessionCols+" FROM sessions WHERE token_hash = ? AND expires_at > ?",
		tokenHash, fmtTime(now)).Scan(&sess.TokenHash, &sess.UserID, &sess.CSRFToken, &sess.IP, &sess.UserAgent, &created, &seen, &expires)
	if err != nil {
		return nil, fmt.Errorf("get session: %w", translate(err))
	}
	if sess.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if sess.LastSeenAt, err = parseTime(seen); err != nil {
		return nil, err
	}
	if sess.ExpiresAt, err = parseTime(expires); err != nil {
		return nil, err
	}
	return &sess, nil
}

// TouchSession implements store.Accounts.
func (s *Store) TouchSession(ctx context.Context, tokenHash []byte, at time.Time) error {
	err := mustAffect(s.w(ctx).ExecContext(ctx, "UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?", fmtTime(at), tokenHash))
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession implements store.Accounts.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.w(ctx).ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = ?", tokenHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements store.Accounts.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.w(ctx).ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ?", fmtTime(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (*T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	return out, rows.Err()
}
