package sandbox

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCapBuffer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{2, 3, 10, 64, 1000} {
		for trial := range 200 {
			t.Run(fmt.Sprintf("max%d/%d", max, trial), func(t *testing.T) {
				b := newCapBuffer(max)
				var all []byte
				for range rng.IntN(20) {
					chunk := make([]byte, rng.IntN(3*max))
					for i := range chunk {
						chunk[i] = byte('a' + rng.IntN(26))
					}
					if n, err := b.Write(chunk); n != len(chunk) || err != nil {
						t.Fatalf("Write = %d, %v", n, err)
					}
					all = append(all, chunk...)
				}
				out, truncated, total := b.result()
				if total != int64(len(all)) {
					t.Fatalf("total %d, want %d", total, len(all))
				}
				if len(all) <= max {
					if truncated || out != string(all) {
						t.Fatalf("got %q (truncated %v), want %q", out, truncated, all)
					}
					return
				}
				head, tail := all[:max/2], all[len(all)-(max-max/2):]
				want := fmt.Sprintf("%s\n[... %d bytes of output omitted ...]\n%s", head, len(all)-max, tail)
				if !truncated || out != want {
					t.Fatalf("got %q, want %q", out, want)
				}
			})
		}
	}
}

func TestCapBufferLargeWrites(t *testing.T) {
	b := newCapBuffer(8)
	b.Write([]byte("0123"))
	b.Write(bytes.Repeat([]byte("x"), 1<<20))
	b.Write([]byte("wxyz"))
	out, truncated, total := b.result()
	if !truncated || total != 8+1<<20 || !strings.HasPrefix(out, "0123\n") || !strings.HasSuffix(out, "\nwxyz") {
		t.Fatalf("%q %v %d", out, truncated, total)
	}
}
