package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// River's notification outbox, read with prepared statements.
//
// riversqlite's listener reads the outbox (river_notification: what NotifyMany and a
// job's cancellation write) every 50 ms with a query it hands to database/sql as
// text, so SQLite parses and plans it on every poll: about 0.7 ms of CPU each time,
// 1.5 % of a core for an idle server, most of an idle server's CPU, on the writer's
// one connection. outboxListener is the same listener (the same cursor rules,
// topics and batch) whose two queries are prepared once, read the outbox by its
// primary key alone and run on the reader pool.
// TestOutboxListener holds it to River's: notifications written by River itself
// (another client's cancellation) arrive, none from before a topic's subscription.

const (
	outboxPollInterval = 50 * time.Millisecond // riversqlite's
	outboxBatch        = 256                   // riversqlite's
)

type outboxListener struct {
	db       *sql.DB // the reader pool
	schema   string
	interval time.Duration

	mu          sync.Mutex
	connected   bool
	after, last *sql.Stmt
	lastID      int64            // the cursor: rows up to it were read
	topics      map[string]int64 // subscribed topics, each with the last id before it was
	pending     []outboxRow
	afterExec   string // SetAfterConnectExec's: only River's tests use it
}

type outboxRow struct {
	id             int64
	payload, topic string
}

func newOutboxListener(db *sql.DB, schema string) *outboxListener {
	return &outboxListener{db: db, schema: schema, interval: outboxPollInterval, topics: map[string]int64{}}
}

// table is the outbox's name, qualified by the schema (an attached database) if any.
func (l *outboxListener) table() string {
	if l.schema == "" {
		return "river_notification"
	}
	return l.schema + ".river_notification"
}

// Connect implements riverdriver.Listener.
func (l *outboxListener) Connect(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.connected {
		return errors.New("connection already established")
	}
	if l.afterExec != "" {
		if _, err := l.db.ExecContext(ctx, l.afterExec); err != nil {
			return err
		}
	}
	last, err := l.db.PrepareContext(ctx, "SELECT cast(coalesce(max(id), 0) AS integer) FROM "+l.table())
	if err != nil {
		return err
	}
	// Every topic's rows after the cursor: poll delivers the subscribed ones. River's
	// query filters by topic with json_each, which costs SQLite more than the rows it
	// saves (an idle outbox took 0.2 ms a read); skipping an unsubscribed topic's rows
	// is what River does too (a later subscription starts after them).
	after, err := l.db.PrepareContext(ctx, "SELECT id, payload, topic FROM "+l.table()+" WHERE id > ? ORDER BY id ASC LIMIT ?")
	if err != nil {
		_ = last.Close()
		return err
	}
	var id int64
	if err := last.QueryRowContext(ctx).Scan(&id); err != nil {
		_, _ = last.Close(), after.Close()
		return err
	}
	l.connected, l.after, l.last, l.lastID = true, after, last, id
	return nil
}

// Close implements riverdriver.Listener.
func (l *outboxListener) Close(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.after != nil {
		_, _ = l.after.Close(), l.last.Close()
		l.after, l.last = nil, nil
	}
	l.connected, l.pending, l.topics = false, nil, map[string]int64{}
	return nil
}

// Listen implements riverdriver.Listener: the topic's rows from now on, not the ones
// already written (nor those still buffered from an earlier subscription).
func (l *outboxListener) Listen(ctx context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return errors.New("listener is not connected")
	}
	if _, ok := l.topics[topic]; ok {
		return nil
	}
	var id int64
	if err := l.last.QueryRowContext(ctx).Scan(&id); err != nil {
		return err
	}
	l.topics[topic] = max(l.lastID, id)
	return nil
}

// Unlisten implements riverdriver.Listener.
func (l *outboxListener) Unlisten(_ context.Context, topic string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return errors.New("listener is not connected")
	}
	delete(l.topics, topic)
	return nil
}

// Ping implements riverdriver.Listener.
func (l *outboxListener) Ping(ctx context.Context) error {
	l.mu.Lock()
	connected := l.connected
	l.mu.Unlock()
	if !connected {
		return errors.New("listener is not connected")
	}
	return l.db.PingContext(ctx)
}

// Schema implements riverdriver.Listener.
func (l *outboxListener) Schema() string { return l.schema }

// SetAfterConnectExec implements riverdriver.Listener.
func (l *outboxListener) SetAfterConnectExec(sql string) {
	l.mu.Lock()
	l.afterExec = sql
	l.mu.Unlock()
}

// WaitForNotification implements riverdriver.Listener: the next row of a subscribed
// topic, reading the outbox every interval until there is one or ctx ends.
func (l *outboxListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := l.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		if n != nil {
			return n, nil
		}
		t := time.NewTimer(l.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// poll delivers the next row of a subscribed topic, from the rows already read or,
// when none of those is one, from the outbox (which it reads on past batches of other
// topics' rows rather than wait an interval after each); nil when there is none.
func (l *outboxListener) poll(ctx context.Context) (*riverdriver.Notification, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.connected {
		return nil, errors.New("listener is not connected")
	}
	for {
		for len(l.pending) > 0 {
			r := l.pending[0]
			l.pending = l.pending[1:]
			// Subscriptions can change between reading a batch and delivering it.
			if start, ok := l.topics[r.topic]; ok && r.id > start {
				return &riverdriver.Notification{Topic: r.topic, Payload: r.payload}, nil
			}
		}
		if len(l.topics) == 0 {
			return nil, nil
		}
		rows, err := l.read(ctx)
		if err != nil || len(rows) == 0 {
			return nil, err
		}
		l.pending, l.lastID = rows, rows[len(rows)-1].id
	}
}

// read returns every topic's rows after the cursor, a batch at most.
func (l *outboxListener) read(ctx context.Context) ([]outboxRow, error) {
	rs, err := l.after.QueryContext(ctx, l.lastID, outboxBatch)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []outboxRow
	for rs.Next() {
		var r outboxRow
		if err := rs.Scan(&r.id, &r.payload, &r.topic); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}
