package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDetectTestCommand(t *testing.T) {
	for _, tc := range []struct {
		files map[string]string
		want  string
	}{
		{map[string]string{"go.mod": "module x\n"}, "go test ./..."},
		{map[string]string{"package.json": `{"scripts":{"test":"vitest"}}`}, "npm test"},
		{map[string]string{"package.json": `{"scripts":{"build":"tsc"}}`}, ""},
		{map[string]string{"pyproject.toml": "[project]\n"}, "pytest"},
		{map[string]string{"Cargo.toml": "[package]\n"}, "cargo test"},
		{map[string]string{"Makefile": "build:\n\tcc x.c\ntest: build\n\t./t\n"}, "make test"},
		{map[string]string{"Makefile": "all:\n\tcc x.c\n"}, ""},
		{map[string]string{"README.md": "hi"}, ""},
	} {
		dir := t.TempDir()
		for name, body := range tc.files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got := DetectTestCommand(dir); got != tc.want {
			t.Errorf("%v: got %q, want %q", tc.files, got, tc.want)
		}
	}
}
