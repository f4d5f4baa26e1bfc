package observe

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	r := NewRedactor([]string{"configured-secret-value", ""})
	for _, in := range []string{
		"key vc_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		"openai sk-abcdefghijklmnop1234",
		"anthropic sk-ant-api03-abcdefghijkl",
		"xai xai-abcdefghijklmnopqrs",
		"google AIzaSyA1234567890abcdefghijklmnopqrstu",
		"github ghp_abcdefghijklmnopqrstuvwxyz0123",
		"header Authorization: BeArEr abc.def.ghi-jkl",
		"url https://user:hunter2@db.example.com/x",
		"query ?PassWord=hunter2&x=1",
		"the configured-secret-value leaked",
	} {
		out := r.Redact(in)
		if !strings.Contains(out, "[REDACTED]") {
			t.Errorf("Redact(%q) = %q: nothing redacted", in, out)
		}
		for _, secret := range []string{"hunter2", "abcdefghijklmnop", "configured-secret-value", "abc.def.ghi"} {
			if strings.Contains(in, secret) && strings.Contains(out, secret) {
				t.Errorf("Redact(%q) = %q still holds %q", in, out, secret)
			}
		}
	}
	for _, safe := range []string{"GET /api/v1/projects/{id}", "0f3a9c1d2e4b", "200", "a normal sentence about keys"} {
		if got := r.Redact(safe); got != safe {
			t.Errorf("Redact(%q) = %q, want unchanged", safe, got)
		}
	}
}

func TestLoggerRedactsEveryPath(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelDebug, NewRedactor([]string{"configured-secret-value"}))
	log.Info("msg", slog.String("password", "plain"), slog.String("detail", "Bearer abcdefghijkl"),
		slog.Any("error", errors.New("upstream said sk-abcdefghijklmnop1234")), slog.String("x", "configured-secret-value"))
	out := buf.String()
	for _, s := range []string{"plain", "abcdefghijkl", "sk-abcdefghijklmnop1234", "configured-secret-value"} {
		if strings.Contains(out, s) {
			t.Fatalf("log line holds %q: %s", s, out)
		}
	}
}

func TestLoggerRedactsStructuredValues(t *testing.T) {
	// Values the JSON handler marshals whole (maps, structs, slices) are redacted inside,
	// sensitive keys included, and left exactly as they were when clean.
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelDebug, NewRedactor([]string{"configured-secret-value"}))
	type req struct {
		Header map[string][]string
		Note   string
	}
	log.Info("m",
		slog.Any("req", req{Header: map[string][]string{"Cookie": {"vc_session=opaque"}, "X-Api-Key": {"opaque-key"}}, Note: "configured-secret-value"}),
		slog.Any("list", []string{"ghp_abcdefghijklmnopqrstuvwxyz0123"}),
		slog.Any("clean", map[string]int{"b": 2, "a": 1}))
	out := buf.String()
	for _, s := range []string{"opaque", "configured-secret-value", "ghp_abcdefghij"} {
		if strings.Contains(out, s) {
			t.Fatalf("log line holds %q: %s", s, out)
		}
	}
	if !strings.Contains(out, `"clean":{"a":1,"b":2}`) || !strings.Contains(out, `"list":["[REDACTED]"]`) {
		t.Errorf("structured values: %s", out)
	}
}

func TestRequestIDContext(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx := WithRequestID(parent, "abc")
	child := context.WithValue(ctx, key{}, "w")
	if RequestID(context.Background()) != "" || RequestID(parent) != "" || RequestID(ctx) != "abc" || RequestID(child) != "abc" {
		t.Error("request ids")
	}
	if RequestID(WithRequestID(child, "def")) != "def" {
		t.Error("the innermost id is the request's")
	}
	if ctx.Value(key{}) != "v" || child.Value(key{}) != "w" {
		t.Error("other values")
	}
	sub, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-sub.Done()
	if ctx.Err() != context.Canceled || sub.Err() != context.Canceled {
		t.Errorf("cancellation: %v, %v", ctx.Err(), sub.Err())
	}
}
