package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/vibecoder/vibecoder/internal/store"
	"github.com/vibecoder/vibecoder/internal/store/sqlite"
)

// BenchmarkInsertUsage is the gateway's accounting write: batches of llm_usage rows,
// of the sizes the usage writer gathers in its linger (100 ms: 100 rows at 1,000
// calls a second, 512 — its largest batch — from about 5,000).
func BenchmarkInsertUsage(b *testing.B) {
	for _, batch := range []int{100, 200, 512, 2048} {
		b.Run(fmt.Sprintf("rows=%d", batch), func(b *testing.B) { benchInsertUsage(b, batch) })
	}
}

func benchInsertUsage(b *testing.B, batch int) {
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
