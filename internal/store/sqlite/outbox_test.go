package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
)

// TestOutboxListener: what River writes to its outbox (NotifyMany, as another client
// or process does) reaches outboxListener by topic, in order, from the moment each
// topic was subscribed and not before; an unsubscribed topic's rows are skipped; a
// wait with nothing to deliver ends with its context.
func TestOutboxListener(t *testing.T) {
	s := openMigrated(t)
	river := riversqlite.New(s.writer).GetExecutor()
	notify := func(topic string, payloads ...string) {
		t.Helper()
		if err := river.NotifyMany(t.Context(), &riverdriver.NotifyManyParams{Topic: topic, Payload: payloads}); err != nil {
			t.Fatal(err)
		}
	}
	notify("river_control", "before connect") // history: never delivered

	l := newOutboxListener(s.reader, "")
	l.interval = time.Millisecond
	if err := l.Listen(t.Context(), "river_control"); err == nil {
		t.Fatal("Listen before Connect succeeded")
	}
	if err := l.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	if err := l.Connect(t.Context()); err == nil {
		t.Fatal("a second Connect succeeded")
	}
	if err := l.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	notify("river_control", "before listen") // after connect, before the topic: not delivered
	if err := l.Listen(t.Context(), "river_control"); err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(t.Context(), "river_leadership"); err != nil {
		t.Fatal(err)
	}
	notify("river_control", "c1", "c2")
	notify("other_topic", "skipped")
	notify("river_leadership", "l1")

	next := func() *riverdriver.Notification {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		n, err := l.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("waiting for a notification: %v", err)
		}
		return n
	}
	for _, want := range []riverdriver.Notification{{Topic: "river_control", Payload: "c1"}, {Topic: "river_control", Payload: "c2"},
		{Topic: "river_leadership", Payload: "l1"}} {
		if got := next(); *got != want {
			t.Fatalf("got %+v, want %+v", *got, want)
		}
	}

	// Unsubscribed: its rows pass by; the other topic's still arrive.
	if err := l.Unlisten(t.Context(), "river_control"); err != nil {
		t.Fatal(err)
	}
	notify("river_control", "after unlisten")
	notify("river_leadership", "l2")
	if got := next(); got.Topic != "river_leadership" || got.Payload != "l2" {
		t.Fatalf("got %+v, want river_leadership l2", *got)
	}

	// Nothing to deliver: the wait ends with its context, having polled meanwhile.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if n, err := l.WaitForNotification(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an empty outbox: %+v, %v; want the context's deadline", n, err)
	}
	if err := l.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitForNotification(t.Context()); err == nil {
		t.Fatal("WaitForNotification after Close succeeded")
	}
}

// TestOutboxListenerReadsPastOtherTopics: more than a batch of another topic's rows
// ahead of a subscribed one do not hold it back for a poll interval (River's own
// listener asked only for its topics' rows, so it never met a batch of others).
func TestOutboxListenerReadsPastOtherTopics(t *testing.T) {
	s := openMigrated(t)
	l := newOutboxListener(s.reader, "")
	l.interval = time.Hour
	if err := l.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	if err := l.Listen(t.Context(), "river_control"); err != nil {
		t.Fatal(err)
	}
	river := riversqlite.New(s.writer).GetExecutor()
	others := make([]string, 2*outboxBatch+10)
	for i := range others {
		others[i] = "other"
	}
	if err := river.NotifyMany(t.Context(), &riverdriver.NotifyManyParams{Topic: "other_topic", Payload: others}); err != nil {
		t.Fatal(err)
	}
	if err := river.NotifyMany(t.Context(), &riverdriver.NotifyManyParams{Topic: "river_control", Payload: []string{"wanted"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n, err := l.WaitForNotification(ctx)
	if err != nil || n.Payload != "wanted" {
		t.Fatalf("behind %d rows of another topic: %+v, %v; want the subscribed row at once", len(others), n, err)
	}
}
