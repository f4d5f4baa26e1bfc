package postgres

import (
	"context"
	"fmt"
	"time"
)

// Heartbeat implements store.Heartbeats.
func (s *Store) Heartbeat(ctx context.Context, processID string, startedAt, now time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO worker_heartbeats (process_id, started_at, seen_at) VALUES ($1, $2, $3)
		ON CONFLICT (process_id) DO UPDATE SET seen_at = EXCLUDED.seen_at`, processID, startedAt, now)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", translate(err))
	}
	_, _ = s.pool.Exec(ctx, "DELETE FROM worker_heartbeats WHERE seen_at < $1", now.Add(-24*time.Hour))
	return nil
}

// LiveWorkers implements store.Heartbeats.
func (s *Store) LiveWorkers(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM worker_heartbeats WHERE seen_at >= $1", since).Scan(&n); err != nil {
		return 0, fmt.Errorf("live workers: %w", translate(err))
	}
	return n, nil
}
