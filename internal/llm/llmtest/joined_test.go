package llmtest

import "testing"

func TestJoinedFrom(t *testing.T) {
	pieces := []string{"Paris ", "is ", "the ", "capital."}
	for _, c := range []struct {
		texts []string
		want  bool
	}{
		{[]string{"Paris ", "is ", "the ", "capital."}, true},
		{[]string{"Paris is the capital."}, true},
		{[]string{"Paris ", "is the ", "capital."}, true},
		{[]string{"Paris ", "is ", "the "}, false},             // a piece missing
		{[]string{"Paris is the capital.", "x"}, false},        // something more
		{[]string{"Par", "is is the capital."}, false},         // split inside a piece
		{[]string{"is ", "Paris ", "the ", "capital."}, false}, // out of order
		{[]string{"Paris ", "", "is the capital."}, false},     // an empty chunk
		{nil, false},
	} {
		if got := JoinedFrom(c.texts, pieces); got != c.want {
			t.Errorf("JoinedFrom(%q) = %v, want %v", c.texts, got, c.want)
		}
	}
	if !JoinedFrom(nil, nil) {
		t.Error("no chunks of no pieces")
	}
}
