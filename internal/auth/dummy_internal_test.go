package auth

import (
	"strings"
	"testing"
)

// TestDummyPasswordHash: the hash unknown emails are checked against is well formed
// with the configured parameters (so checking it costs what a real check costs),
// matches no password, and differs at every start.
func TestDummyPasswordHash(t *testing.T) {
	p := Argon2Params{Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	a, err := dummyPasswordHash(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dummyPasswordHash(p)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || !strings.HasPrefix(a, "$argon2id$v=19$m=64,t=2,p=1$") {
		t.Fatalf("dummy hashes %q, %q", a, b)
	}
	real, err := HashPassword("", p)
	if err != nil {
		t.Fatal(err)
	}
	if len(real) != len(a) {
		t.Fatalf("dummy %q is not shaped like a real hash %q", a, real)
	}
	for _, pw := range []string{"", "password", "a long enough password"} {
		if ok, err := CheckPassword(pw, a); ok || err != nil {
			t.Errorf("CheckPassword(%q, dummy) = %v, %v; want false, nil", pw, ok, err)
		}
	}
}
