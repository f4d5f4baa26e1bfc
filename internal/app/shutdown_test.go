package app_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/store"
)

// TestShutdownEndsEventStreams: with a client on a project's event stream, a graceful
// shutdown ends the stream with a final "shutdown" event and the server returns
// without an error long before its shutdown timeout (which it used to wait out, then
// fail). The client reconnects with Last-Event-ID to a new server and gets the event
// emitted while it was away.
func TestShutdownEndsEventStreams(t *testing.T) {
	vars := map[string]string{
		"VIBECODER_DATA_DIR":          t.TempDir(),
		"VIBECODER_SHUTDOWN_TIMEOUT":  "10m",
		"VIBECODER_ALLOW_UNSANDBOXED": "true",
	}
	cfg, err := config.Load(noSeed(func(k string) string { return vars[k] }))
	if err != nil {
		t.Fatal(err)
	}
	a1, base1, stop1 := startServer(t, cfg)
	u, err := a1.Auth.Signup(t.Context(), "stream@example.com", "", "stream password", false)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := a1.Auth.CreateAPIKey(t.Context(), u.ID, "k")
	if err != nil {
		t.Fatal(err)
	}
	p := &store.Project{UserID: u.ID, Name: "p", RepoURL: "https://example.com/p.git", DefaultBranch: "main"}
	if err := a1.Store.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := a1.Events.Emit(t.Context(), u.ID, p.ID, nil, "test.first", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}

	open := func(base, lastID string) (*http.Response, *bufio.Scanner) {
		req, _ := http.NewRequest("GET", base+"/api/v1/projects/"+p.ID.String()+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("events: %d", resp.StatusCode)
		}
		return resp, bufio.NewScanner(resp.Body)
	}
	// next reads one event: its id ("" if none) and type.
	next := func(sc *bufio.Scanner) (id, typ string, ok bool) {
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "" && typ != "":
				return id, typ, true
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			}
		}
		return "", "", false
	}
	resp, sc := open(base1, "")
	defer resp.Body.Close()
	firstID, typ, ok := next(sc)
	if !ok || typ != "test.first" {
		t.Fatalf("first event: %q %q", typ, firstID)
	}
	stopped := make(chan error, 1)
	go func() {
		err, _ := stop1() // as before, Close's error is not this test's concern
		stopped <- err
	}()
	id, typ, ok := next(sc)
	if !ok || typ != "shutdown" || id != "" {
		t.Fatalf("after shutdown began the stream sent %q (id %q, ok %v), want a final shutdown event without an id", typ, id, ok)
	}
	if _, typ, ok := next(sc); ok {
		t.Fatalf("the stream went on after its shutdown event: %q", typ)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("graceful shutdown with an open event stream: %v", err)
	}

	// Something happens while the client is away; a new server has it for the client.
	a2, base2, stop2 := startServer(t, cfg)
	defer func() {
		if err, _ := stop2(); err != nil {
			t.Error(err)
		}
	}()
	if err := a2.Events.Emit(t.Context(), u.ID, p.ID, nil, "test.second", map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	resp2, sc2 := open(base2, firstID)
	defer resp2.Body.Close()
	if _, typ, ok := next(sc2); !ok || typ != "test.second" {
		t.Fatalf("after reconnecting with Last-Event-ID %s: %q, want test.second", firstID, typ)
	}
}
