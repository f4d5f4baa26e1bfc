package store

import (
	"encoding/json"
	"testing"
)

func TestCleanJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"a":"x"}`, `{"a":"x"}`},
		{`{"a":"\u0000"}`, `{"a":"\ufffd"}`},
		{`{"a":"\\u0000"}`, `{"a":"\\u0000"}`},                 // a backslash, then the text u0000
		{`{"a":"\\\u0000"}`, `{"a":"\\\ufffd"}`},               // a backslash, then a NUL
		{`{"\u0000k":["\u00001"]}`, `{"\ufffdk":["\ufffd1"]}`}, // keys and arrays too
		{`{"a":"\u00000"}`, `{"a":"\ufffd0"}`},
		{"{\"a\":\"\x00\"}", "{\"a\":\"\uFFFD\"}"}, // a raw NUL (invalid JSON)
		{`"\`, `"\`}, // truncated: left as it is
	} {
		if got := string(CleanJSON(json.RawMessage(c.in))); got != c.want {
			t.Errorf("CleanJSON(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := CleanText("a\x00b\x00"); got != "a\uFFFDb\uFFFD" {
		t.Errorf("CleanText = %q", got)
	}
}
