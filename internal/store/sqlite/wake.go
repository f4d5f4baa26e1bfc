package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"sync"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// Waking a queue when this process commits a job to it.
//
// On PostgreSQL River hears of a new job through NOTIFY. SQLite has none: riversqlite
// emulates it with an outbox, a table River writes its notifications to (in the
// inserting transaction, at most once per queue per fetch cooldown) and its listener
// polls every 50 ms. River has no public call that wakes a queue, and our jobs are
// always inserted inside a store transaction (InTx), which River cannot see commit.
// Polling alone (River's poll-only mode, used until now), a step's successor waited
// for its queue's next poll: 250 ms by default, about 100 ms on average per hand-off.
//
// The store knows when such a job becomes visible: when the InTx transaction that
// inserted it commits. So the SQLite client's listener (driver.GetListener) is River's
// own with an in-process side: after each commit InTx hands the queues of the jobs
// inserted in it (the client's InsertTx records them) to the listeners, which deliver
// River's insert notification for each at once, cutting short their wait on the
// outbox; the queue's producer fetches (after the fetch cooldown, should it have
// fetched just before). Nothing is written for it, a rolled-back transaction wakes
// nothing, the job and its rows still commit together, and no wake is lost to
// River's once-per-cooldown limit on outbox notifications. River's outbox still
// carries what other processes on the file do and its control notifications (a job
// cancelled through the API reaches its worker within 50 ms).
//
// Alternatives weighed: the outbox alone (wakes within 50 ms, but a second job for a
// queue within the cooldown waits for the poll); a no-op "wake" job inserted outside
// the transaction after it commits, as River wakes a queue only on such an insert (a
// write per hand-off, and riversqlite would have to deny having a listener); a
// shorter poll interval (a write transaction per queue per poll).

// River's insert notification (its internal notifier's topic and the producer's
// payload): TestInProcessWakeStartsJob, where nothing else can wake the queue, fails if
// River renames them.
const insertTopic = "river_insert"

type insertPayload struct {
	Queue string `json:"queue"`
}

// driver is riversqlite's driver with the listener that also hears this process's
// commits, and reads the outbox with prepared statements (outbox.go).
type driver struct {
	*riversqlite.Driver
	reader *sql.DB
	hub    *insertHub
}

// GetListener implements riverdriver.Driver.
func (d driver) GetListener(params *riverdriver.GetListenenerParams) riverdriver.Listener {
	return &insertListener{Listener: newOutboxListener(d.reader, params.Schema), hub: d.hub, ready: make(chan struct{}, 1)}
}

// insertHub hands the queues of committed jobs to the listeners of a store's River
// clients.
type insertHub struct {
	mu        sync.Mutex
	listeners map[*insertListener]struct{}
}

func (h *insertHub) add(l *insertListener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.listeners == nil {
		h.listeners = map[*insertListener]struct{}{}
	}
	h.listeners[l] = struct{}{}
}

func (h *insertHub) remove(l *insertListener) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.listeners, l)
}

// committed tells every listener that jobs of queues were committed.
func (h *insertHub) committed(queues []string) {
	if len(queues) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for l := range h.listeners {
		l.notify(queues)
	}
}

// insertListener is River's SQLite listener (the outbox) that also delivers the insert
// notifications of its store's committed transactions, first. Queues notified while
// it waits are coalesced, so a burst of commits costs one fetch per queue and nothing
// is dropped.
type insertListener struct {
	riverdriver.Listener // River's: the outbox
	hub                  *insertHub
	ready                chan struct{} // a token when pending may be non-empty

	mu        sync.Mutex
	listening bool     // the insert topic is subscribed
	pending   []string // queues to deliver, without duplicates
}

func (l *insertListener) notify(queues []string) {
	l.mu.Lock()
	if !l.listening {
		l.mu.Unlock()
		return
	}
	for _, q := range queues {
		if !slices.Contains(l.pending, q) {
			l.pending = append(l.pending, q)
		}
	}
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// Connect implements riverdriver.Listener.
func (l *insertListener) Connect(ctx context.Context) error {
	if err := l.Listener.Connect(ctx); err != nil {
		return err
	}
	l.hub.add(l)
	return nil
}

// Close implements riverdriver.Listener.
func (l *insertListener) Close(ctx context.Context) error {
	l.hub.remove(l)
	l.mu.Lock()
	l.listening, l.pending = false, nil
	l.mu.Unlock()
	return l.Listener.Close(ctx)
}

// Listen implements riverdriver.Listener.
func (l *insertListener) Listen(ctx context.Context, topic string) error {
	if err := l.Listener.Listen(ctx, topic); err != nil {
		return err
	}
	if topic == insertTopic {
		l.mu.Lock()
		l.listening = true
		l.mu.Unlock()
	}
	return nil
}

// Unlisten implements riverdriver.Listener.
func (l *insertListener) Unlisten(ctx context.Context, topic string) error {
	if topic == insertTopic {
		l.mu.Lock()
		l.listening, l.pending = false, nil
		l.mu.Unlock()
	}
	return l.Listener.Unlisten(ctx, topic)
}

// WaitForNotification implements riverdriver.Listener: a queue this process committed
// a job to, or else whatever River's listener hears first, its wait cut short by such
// a commit. (River's notifier interrupts the wait every few seconds too, to ping:
// River's listener is built to be cancelled.)
func (l *insertListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	for {
		if n, err := l.next(); n != nil || err != nil {
			return n, err
		}
		wctx, cancel := context.WithCancel(ctx)
		stop := make(chan struct{})
		go func() {
			select {
			case <-l.ready:
				cancel()
			case <-stop:
			}
		}()
		n, err := l.Listener.WaitForNotification(wctx)
		close(stop)
		cancel()
		switch {
		case err == nil:
			return n, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !errors.Is(err, context.Canceled):
			return nil, err
		}
		// Woken by a commit.
	}
}

// next pops the first pending queue's notification, if any.
func (l *insertListener) next() (*riverdriver.Notification, error) {
	l.mu.Lock()
	if len(l.pending) == 0 {
		l.mu.Unlock()
		return nil, nil
	}
	q := l.pending[0]
	l.pending = l.pending[1:]
	l.mu.Unlock()
	payload, err := json.Marshal(insertPayload{Queue: q})
	if err != nil {
		return nil, err
	}
	return &riverdriver.Notification{Topic: insertTopic, Payload: string(payload)}, nil
}
