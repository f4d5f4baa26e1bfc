package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestLogsShippedAndFlushedOnExit(t *testing.T) {
	const token = "logtail-token-for-the-cli-test"
	var mu sync.Mutex
	var messages []string
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var batch []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, rec := range batch {
			if m, _ := rec["message"].(string); m != "" && rec["dt"] != nil {
				messages = append(messages, m)
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer ingest.Close()

	env := map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "LOGTAIL_SOURCE_TOKEN": token, "LOGTAIL_INGEST_URL": ingest.URL}
	code, out, errOut := run(t, env, "", "migrate")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	// migrate exits at once: its lines arrive only because exit flushes the shipper.
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(messages, "\n"), "database ready") {
		t.Errorf("shipped %q, want the database ready line", messages)
	}
	if !strings.Contains(errOut, "database ready") || strings.Contains(errOut, token) {
		t.Errorf("stderr %q: want the line there too, and never the token", errOut)
	}
}

func TestTracingEndpointValidated(t *testing.T) {
	env := map[string]string{"VIBECODER_DATA_DIR": t.TempDir(), "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}
	if code, _, errOut := run(t, env, "", "migrate"); code != 1 || !strings.Contains(errOut, "OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Fatalf("bad OTLP endpoint: exit %d, stderr %q", code, errOut)
	}
}

// TestBufferedLinesFlushedOnExit: lines of requests still in flight wait in the
// stderr buffer; closing the telemetry (the last thing a command does) writes them.
func TestBufferedLinesFlushedOnExit(t *testing.T) {
	var errb strings.Builder
	e := env{stdout: &strings.Builder{}, stderr: &errb, getenv: func(k string) string {
		return map[string]string{"VIBECODER_DATA_DIR": t.TempDir()}[k]
	}}
	_, log, tel, err := e.setup()
	if err != nil {
		t.Fatal(err)
	}
	tel.stderr.Begin() // a request that never ends
	log.Info("held until exit")
	if errb.Len() != 0 {
		t.Fatalf("written while a request was in flight: %q", errb.String())
	}
	tel.close()
	if !strings.Contains(errb.String(), "held until exit") {
		t.Fatalf("after close, stderr %q: the held line was lost", errb.String())
	}
}
