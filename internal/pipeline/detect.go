package pipeline

import (
	"encoding/json"
	"regexp"

	"github.com/vibecoder/vibecoder/internal/safefs"
)

var makeTestTarget = regexp.MustCompile(`(?m)^test\s*:`)

// maxManifest bounds a package.json or Makefile read to detect the test command.
const maxManifest = 1 << 20

// DetectTestCommand guesses a repository's test command from its files, in this
// order: Go, npm, Python, Rust, make. It returns "" when it finds none. Only regular
// files inside dir count (read through safefs: the workspace is untrusted).
func DetectTestCommand(dir string) string {
	tree, err := safefs.Open(dir)
	if err != nil {
		return ""
	}
	defer tree.Close()
	exists := tree.Exists
	switch {
	case exists("go.mod"):
		return "go test ./..."
	case exists("package.json"):
		var pkg struct {
			Scripts map[string]string `json:"scripts"`
		}
		if b, err := tree.ReadFile("package.json", maxManifest); err == nil && json.Unmarshal(b, &pkg) == nil && pkg.Scripts["test"] != "" {
			return "npm test"
		}
	case exists("pytest.ini") || exists("pyproject.toml") || exists("setup.py") || exists("tox.ini"):
		return "pytest"
	case exists("Cargo.toml"):
		return "cargo test"
	}
	if b, err := tree.ReadFile("Makefile", maxManifest); err == nil && makeTestTarget.Match(b) {
		return "make test"
	}
	return ""
}
