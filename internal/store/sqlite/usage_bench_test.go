package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
)

// BenchmarkInsertUsage is the gateway's accounting write: batches of 200 llm_usage
// rows (what the usage writer gathers in its 20 ms linger at 10,000 calls a second).
func BenchmarkInsertUsage(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "vibecoder.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	u := &store.User{Email: "bench@example.com", PasswordHash: "x"}
	if err := s.CreateUser(context.Background(), u); err != nil {
		b.Fatal(err)
	}
	const batch = 200
	rows := make([]store.LLMUsage, batch)
	b.ResetTimer()
	for range b.N {
		for i := range rows {
			rows[i] = store.LLMUsage{UserID: u.ID, Provider: "openai", Model: "gpt-4o-mini", PromptTokens: 96,
				CompletionTokens: 220, CostUSD: 0.0001, LatencyMS: 3, Status: "ok"}
		}
		if err := s.InsertUsage(context.Background(), rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*batch), "µs/row")
}
