package httpapi

import (
	"net/http/httptest"
	"testing"
)

// TestCacheControl: the directives the gateway honours, in any case, among others,
// and split over several Cache-Control fields.
func TestCacheControl(t *testing.T) {
	for _, tc := range []struct {
		fields           []string
		noCache, noStore bool
	}{
		{nil, false, false},
		{[]string{""}, false, false},
		{[]string{"no-cache"}, true, false},
		{[]string{"No-Store"}, false, true},
		{[]string{"max-age=0, NO-CACHE ,no-store"}, true, true},
		{[]string{"max-age=0", "no-store"}, false, true},
		{[]string{"no-cache", "no-store"}, true, true},
		{[]string{"no-cache-please", "xno-store"}, false, false},
	} {
		r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
		for _, f := range tc.fields {
			r.Header.Add("Cache-Control", f)
		}
		if nc, ns := cacheControl(r); nc != tc.noCache || ns != tc.noStore {
			t.Errorf("Cache-Control %q: no-cache %v, no-store %v; want %v, %v", tc.fields, nc, ns, tc.noCache, tc.noStore)
		}
	}
}
