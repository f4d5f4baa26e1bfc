// Package postgres is the scale-out dialect of the store: PostgreSQL through a pgx/v5
// pool, with row-level security on every tenant table so that a query missing its
// user_id filter still cannot read or write another tenant's rows.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	vec  vectorState // pgvector, when installed (chunks.go)
}

var _ store.Store = (*Store)(nil)

// Pool defaults, used when the DSN does not set pool_max_conns / connect_timeout.
const (
	defaultConnectTimeout = 10 * time.Second
	maxDefaultPoolSize    = 32
)

// Open connects to the database at dsn (a postgres:// URL or key=value string; pgxpool
// parameters such as pool_max_conns are honoured) and checks that it answers. It does
// not migrate. It warns when the role bypasses row-level security.
func Open(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error can echo the DSN, password included; say only what failed.
		return nil, errors.New("parse postgres DSN: not a valid connection string (want postgres://user:password@host:port/database?param=value)")
	}
	if !strings.Contains(dsn, "pool_max_conns") { // pgxpool consumes the parameter while parsing
		// pgxpool's own default (max(4, NumCPU)) starves a busy API plus workers on
		// small machines; this stays well under PostgreSQL's default max_connections.
		cfg.MaxConns = int32(min(maxDefaultPoolSize, max(8, 2*runtime.NumCPU())))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		// Hand back timestamps in UTC, as store.Now produces them, so that a value
		// read back equals the value written.
		c.TypeMap().RegisterType(&pgtype.Type{
			Name:  "timestamptz",
			OID:   pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool, log: log}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := s.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, err
	}
	var bypass bool
	if err := pool.QueryRow(pingCtx,
		"SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&bypass); err != nil {
		pool.Close()
		return nil, fmt.Errorf("inspect postgres role: %w", translate(err))
	}
	if bypass {
		log.Warn("connected to PostgreSQL as a superuser or BYPASSRLS role: row-level security is NOT enforced; "+
			"tenant isolation rests on the queries alone. Connect as an ordinary role that owns the schema.",
			slog.String("user", cfg.ConnConfig.User), slog.String("database", cfg.ConnConfig.Database))
	}
	s.detectVector(pingCtx)
	return s, nil
}

// Pool returns the connection pool, for the job queue to share.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Dialect implements store.Store.
func (s *Store) Dialect() string { return "postgres" }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", translate(err))
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// tenantTx runs fn in a transaction scoped to userID: it first sets app.user_id,
// transaction-locally, so the row-level security policies see only that user's rows
// and a pooled connection never carries the tenant into its next use. Queries inside
// still filter on user_id themselves; the policy is the second line of defence. BEGIN
// and the setting go to the server as one simple-protocol message: one round trip
// fewer for every tenant statement (a search makes about ten). The id is a
// uuid.UUID's text form, hex digits and dashes, so it is safe to write into the SQL.
func (s *Store) tenantTx(ctx context.Context, userID uuid.UUID, fn func(tx pgx.Tx) error) error {
	if cur, ok := ctx.Value(txKey{}).(boundTx); ok {
		if cur.userID != userID {
			// Joining would run this user's statement under another tenant's setting.
			return fmt.Errorf("store: a transaction of user %s cannot run a statement of user %s", cur.userID, userID)
		}
		return fn(cur.tx)
	}
	begin := pgx.TxOptions{BeginQuery: "BEGIN; SELECT set_config('app.user_id', '" + userID.String() + "', true)"}
	err := pgx.BeginTxFunc(ctx, s.pool, begin, fn)
	// A connection that cannot be had fails Begin, before any statement of fn could
	// translate it. Other errors stay as they are: callers look for pgx.ErrNoRows.
	if err != nil && !errors.Is(err, store.ErrUnavailable) && unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

type txKey struct{}

// boundTx is the tenant transaction InTx put in the context.
type boundTx struct {
	tx     pgx.Tx
	userID uuid.UUID
}

// InTx implements store.Store: fn runs in one transaction as userID (row-level
// security applies); tenant store calls made with the context fn receives join it, and
// tx is the pgx.Tx for the job queue's InsertTx.
func (s *Store) InTx(ctx context.Context, userID uuid.UUID, fn func(ctx context.Context) error) error {
	return s.tenantTx(ctx, userID, func(tx pgx.Tx) error {
		return fn(context.WithValue(ctx, txKey{}, boundTx{tx: tx, userID: userID}))
	})
}

// pageCursor returns the id bound that selects a page newest-first: rows with id below
// it. The first page uses the maximum UUID, which no version-7 id can equal, so every
// list is the same index-friendly query.
func pageCursor(p store.Page) (uuid.UUID, int) {
	p = p.Normalize()
	if p.After == uuid.Nil {
		return uuid.Max, p.Limit
	}
	return p.After, p.Limit
}

// collect scans every row with scan and closes rows. It never returns a nil slice.
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (*T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// Listen calls fn for every notification on channel until ctx ends, reconnecting
// after a lost connection. It holds one pooled connection while it listens.
func (s *Store) Listen(ctx context.Context, channel string, fn func(payload string)) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, channel, fn)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("listen for notifications; reconnecting", slog.String("channel", channel), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, channel string, fn func(string)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() {
		// A connection still LISTENing must not go back to the pool: close it (the
		// pool then discards it).
		_ = conn.Conn().Close(context.Background())
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	// Whatever happened while not listening is picked up by the listeners' next read.
	fn("")
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
