package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
)

var makeTestTarget = regexp.MustCompile(`(?m)^test\s*:`)

// DetectTestCommand guesses a repository's test command from its files, in this
// order: Go, npm, Python, Rust, make. It returns "" when it finds none.
func DetectTestCommand(dir string) string {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	switch {
	case exists("go.mod"):
		return "go test ./..."
	case exists("package.json"):
		var pkg struct {
			Scripts map[string]string `json:"scripts"`
		}
		if b, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil && json.Unmarshal(b, &pkg) == nil && pkg.Scripts["test"] != "" {
			return "npm test"
		}
	case exists("pytest.ini") || exists("pyproject.toml") || exists("setup.py") || exists("tox.ini"):
		return "pytest"
	case exists("Cargo.toml"):
		return "cargo test"
	}
	if b, err := os.ReadFile(filepath.Join(dir, "Makefile")); err == nil && makeTestTarget.Match(b) {
		return "make test"
	}
	return ""
}
