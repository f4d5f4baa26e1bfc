package web

import "testing"

// TestSafeNext feeds safeNext the open-redirect variants browsers and servers read as
// another origin; each must fall back to /projects, and plain paths must pass as is.
func TestSafeNext(t *testing.T) {
	const fallback = "/projects"
	for _, tc := range []struct{ next, want string }{
		{"/ok/path?x=1", "/ok/path?x=1"},
		{"/keys", "/keys"},
		{"/projects/0b0e6a36-0e3a-4c1e-9f51-3a43b8f9e0f1#events", "/projects/0b0e6a36-0e3a-4c1e-9f51-3a43b8f9e0f1#events"},
		{"/search?q=a%2Fb", "/search?q=a%2Fb"},
		{"/usage?from=2025-01-01&to=2025-02-01", "/usage?from=2025-01-01&to=2025-02-01"},
		{"", fallback},
		{"/\t/evil.example/", fallback},
		{"/%09/evil.example/", fallback},
		{"%09/evil.example", fallback},
		{"/\n/evil.example", fallback},
		{"/%0a/evil.example", fallback},
		{"/\r/evil.example", fallback},
		{"/ /evil.example", fallback},
		{"/%20/evil.example", fallback},
		{"/\u00a0/evil.example", fallback},
		{"/\u2028/evil.example", fallback},
		{"//evil.example", fallback},
		{"//evil.example/path", fallback},
		{"///evil.example", fallback},
		{"/\\evil.example", fallback},
		{"\\\\evil.example", fallback},
		{"/ok\\..\\evil", fallback},
		{"/%5Cevil", fallback},
		{"/%5cevil.example", fallback},
		{"https://evil.example", fallback},
		{"http:evil.example", fallback},
		{"javascript:alert(1)", fallback},
		{"evil.example", fallback},
		{"/%2F%2Fevil.example", fallback},
		{"/%2f%2fevil.example", fallback},
		{"%2F%2Fevil.example", fallback},
		{"/%252F%252Fevil.example", fallback},
		{"/%25252F/evil.example", fallback}, // three decodings from //evil.example
		{"/\x00", fallback},
		{"/%00", fallback},
		{"/ok\x7f", fallback},
		{"/..//evil.example", fallback},
		{"/./evil", fallback},
		{"/%2e%2e//evil.example", fallback},
		{"/%", fallback},
		{"/\xff", fallback},
		{"/@evil.example", "/@evil.example"}, // a path on this site, not userinfo
	} {
		if got := safeNext(tc.next); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}
