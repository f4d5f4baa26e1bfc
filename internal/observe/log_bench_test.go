package observe

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkAccessLogLine is the cost of one access-log line (httpapi's accessLog) through
// the production logger: JSON, redaction with configured secrets, written nowhere.
func BenchmarkAccessLogLine(b *testing.B) {
	log := NewLogger(io.Discard, slog.LevelInfo, NewRedactor([]string{"sk-test-0123456789abcdef0123", "pw-secret-value", "redis-secret-value"}))
	ctx := WithRequestID(context.Background(), "0f1e2d3c4b5a69788796a5b4")
	b.ReportAllocs()
	for b.Loop() {
		log.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("request_id", "0f1e2d3c4b5a69788796a5b4"),
			slog.String("method", "POST"),
			slog.String("route", "POST /v1/chat/completions"),
			slog.Int("status", 200),
			slog.Float64("duration_ms", 5.123),
			slog.Int64("bytes", 1432),
			slog.String("user_id", "01a21357-39bd-71ca-8ef9-b2db0bbee131"),
		)
	}
}

// BenchmarkLogAccess is the same line through LogAccess, as httpapi's accessLog writes
// it: the fast path of the production logger.
func BenchmarkLogAccess(b *testing.B) {
	log := NewLogger(io.Discard, slog.LevelInfo, NewRedactor([]string{"sk-test-0123456789abcdef0123", "pw-secret-value", "redis-secret-value"}))
	ctx := WithRequestID(context.Background(), "0f1e2d3c4b5a69788796a5b4")
	b.ReportAllocs()
	for b.Loop() {
		LogAccess(ctx, log, &AccessLine{
			RequestID: "0f1e2d3c4b5a69788796a5b4",
			Method:    "POST",
			Route:     "POST /v1/chat/completions",
			Status:    200,
			Duration:  5123 * time.Microsecond,
			Bytes:     1432,
			UserID:    "01a21357-39bd-71ca-8ef9-b2db0bbee131",
		})
	}
}
