package pipeline

import (
	"testing"

	"github.com/vibecoder/vibecoder/internal/testutil"
)

// TestUsesGo: which projects' first runs wait for and get the Go build cache seed.
func TestUsesGo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		cmd   string
		want  bool
	}{
		{"go.mod", map[string]string{"go.mod": "module x\n"}, "go test ./...", true},
		{"go.mod, make", map[string]string{"go.mod": "module x\n", "Makefile": "test:\n\tgo test ./...\n"}, "make test", true},
		{"go.work", map[string]string{"go.work": "go 1.22\n"}, "make test", true},
		{"go in the command", map[string]string{"sub/go.mod": "module x\n"}, "cd sub && go test ./...", true},
		{"python", map[string]string{"pyproject.toml": ""}, "pytest", false},
		{"go.mod a directory", map[string]string{"go.mod/x": ""}, "npm test", false},
		{"word containing go", map[string]string{"package.json": "{}"}, "cargo test && gofmt -l .", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			testutil.WriteTree(t, dir, tc.files)
			if got := usesGo(dir, tc.cmd); got != tc.want {
				t.Errorf("usesGo(%v, %q) = %v, want %v", tc.files, tc.cmd, got, tc.want)
			}
		})
	}
}
