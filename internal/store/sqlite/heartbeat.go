package sqlite

import (
	"context"
	"fmt"
	"time"
)

// Heartbeat implements store.Heartbeats.
func (s *Store) Heartbeat(ctx context.Context, processID string, startedAt, now time.Time) error {
	_, err := s.w(ctx).ExecContext(ctx, `INSERT INTO worker_heartbeats (process_id, started_at, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (process_id) DO UPDATE SET seen_at = excluded.seen_at`, processID, fmtTime(startedAt), fmtTime(now))
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	// Forget processes silent for a day.
	_, _ = s.w(ctx).ExecContext(ctx, "DELETE FROM worker_heartbeats WHERE seen_at < ?", fmtTime(now.Add(-24*time.Hour)))
	return nil
}

// LiveWorkers implements store.Heartbeats.
func (s *Store) LiveWorkers(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.r(ctx).QueryRowContext(ctx, "SELECT count(*) FROM worker_heartbeats WHERE seen_at >= ?", fmtTime(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("live workers: %w", err)
	}
	return n, nil
}
