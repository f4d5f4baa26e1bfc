package postgres_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vibecoder/vibecoder/internal/store/postgres"
)

// TestTSVectorTextMatchesServer: the search vectors computed in Go are exactly the
// server's to_tsvector('simple', ...) of the same texts, for search texts as the
// indexer writes them, for random texts over the characters where the parser is
// subtle (digits, 'e', '_': "1e10x" is two words, "123abc" one), and for a text past
// the limits of positions; texts it does not cover are left to the server.
func TestTSVectorTextMatchesServer(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	texts := []string{
		"", "|", "net http http header header | parse parsetime time | parses a time header | func parsetime",
		"1e 1e10 1e10x 0x1f 3d 123abc abc123 1_000 e5 1e5e 12e3abc 007 0 x__y _a a_ abc_def 9e99999 1e0 2e 5e5 5e5 ab1e10 1e1e1",
		"user_id user id | | |\tcode\nlines  with\t\ttabs",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ae x015_|"
	for range 400 {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		texts = append(texts, b.String())
	}
	// Past 16383 positions, and a word more often than a lexeme keeps positions.
	var long strings.Builder
	for i := range 20000 {
		long.WriteString([]string{"often ", "w", "x1 ", "2e5 "}[i%4])
	}
	texts = append(texts, long.String())

	var vectors []string
	for _, text := range texts {
		v, ok := postgres.TSVectorText(text)
		if !ok {
			t.Fatalf("not covered: %q", text)
		}
		vectors = append(vectors, v)
	}
	rows, err := s.Pool().Query(t.Context(), `SELECT u.t, to_tsvector('simple', u.t)::text, u.v::tsvector::text
		FROM unnest($1::text[], $2::text[]) AS u(t, v)`, texts, vectors)
	must(t, err)
	type row struct{ Text, Server, Ours string }
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	must(t, err)
	if len(got) != len(texts) {
		t.Fatalf("%d rows for %d texts", len(got), len(texts))
	}
	for _, r := range got {
		if r.Server != r.Ours {
			t.Errorf("text %.80q:\nserver %.200s\nours   %.200s", r.Text, r.Server, r.Ours)
		}
	}
	for _, text := range []string{"héllo world", "Upper case", "www.example.com", "a-b", "1.5", "x/y", "a@b"} {
		if v, ok := postgres.TSVectorText(text); ok {
			t.Errorf("%q is left to the server's parser, got %q", text, v)
		}
	}
}
