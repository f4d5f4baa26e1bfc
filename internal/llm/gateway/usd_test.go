package gateway_test

import (
	"testing"

	"github.com/vibecoder/vibecoder/internal/llm/gateway"
)

func TestUSD(t *testing.T) {
	for v, want := range map[float64]string{0: "$0.00", 0.001: "$0.001", 0.0085: "$0.0085", 0.00001234: "$0.0000123",
		12.5: "$12.50", 25: "$25.00", 0.01: "$0.01", 0.0123: "$0.0123", 1.23456789: "$1.234568", 150.126: "$150.13", 3.1: "$3.10"} {
		if got := gateway.USD(v); got != want {
			t.Errorf("USD(%v) = %q, want %q", v, got, want)
		}
	}
}
