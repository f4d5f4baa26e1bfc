package jobs

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

// Hub wakes event streams when events may have arrived. It carries no data: a woken
// stream re-reads the events table as its user, so nothing crosses tenants through it.
type Hub struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{subs: map[chan struct{}]struct{}{}} }

// Subscribe returns a channel that receives a value (coalesced) after each Notify, and
// a function that unsubscribes.
func (h *Hub) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// Notify wakes every subscriber. It never blocks.
func (h *Hub) Notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Events appends progress events and wakes this process's streams. Streams in other
// processes are woken by PostgreSQL's NOTIFY (see postgres.Store.Listen) or poll.
type Events struct {
	st  store.Jobs
	hub *Hub
}

// NewEvents returns an Events writing to st and waking hub.
func NewEvents(st store.Jobs, hub *Hub) *Events { return &Events{st: st, hub: hub} }

// Emit appends an event for a project (and execution, if given). data must encode as
// a JSON object; anything else is wrapped as {"value": data}.
func (e *Events) Emit(ctx context.Context, userID, projectID uuid.UUID, executionID *uuid.UUID, typ string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	if len(b) == 0 || b[0] != '{' {
		b, _ = json.Marshal(map[string]any{"value": data})
	}
	err = e.st.AppendEvent(ctx, &store.Event{UserID: userID, ProjectID: projectID, ExecutionID: executionID, Type: typ, Data: b})
	if err == nil && e.hub != nil {
		e.hub.Notify()
	}
	return err
}
