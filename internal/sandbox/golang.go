package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
)

// GoToolchain is a Go installation to expose, read-only, to commands such as `go test ./...`.
type GoToolchain struct {
	GOROOT     string
	GOMODCACHE string // modules already downloaded on the host; the sandbox has no network
	Version    string
}

// DetectGo asks the `go` command at goBin (empty: the one in PATH) where its toolchain and
// module cache are.
func DetectGo(ctx context.Context, goBin string) (GoToolchain, error) {
	if goBin == "" {
		p, err := exec.LookPath("go")
		if err != nil {
			return GoToolchain{}, fmt.Errorf("sandbox: find go: %w", err)
		}
		goBin = p
	}
	out, err := exec.CommandContext(ctx, goBin, "env", "-json", "GOROOT", "GOMODCACHE", "GOVERSION").Output()
	if err != nil {
		return GoToolchain{}, fmt.Errorf("sandbox: go env: %w", err)
	}
	var v struct{ GOROOT, GOMODCACHE, GOVERSION string }
	if err := json.Unmarshal(out, &v); err != nil {
		return GoToolchain{}, fmt.Errorf("sandbox: go env: %w", err)
	}
	if !filepath.IsAbs(v.GOROOT) {
		return GoToolchain{}, fmt.Errorf("sandbox: go env: GOROOT %q is not absolute", v.GOROOT)
	}
	g := GoToolchain{GOROOT: v.GOROOT, GOMODCACHE: v.GOMODCACHE, Version: v.GOVERSION}
	if real, err := filepath.EvalSymlinks(g.GOROOT); err == nil {
		g.GOROOT = real
	}
	if real, err := filepath.EvalSymlinks(g.GOMODCACHE); err == nil {
		g.GOMODCACHE = real
	}
	return g, nil
}

// ReadOnly is what to add to Config.ExtraReadOnly.
func (g GoToolchain) ReadOnly() []string {
	ro := []string{g.GOROOT}
	if g.GOMODCACHE != "" && filepath.IsAbs(g.GOMODCACHE) {
		ro = append(ro, g.GOMODCACHE)
	}
	return ro
}

// Env is the environment for the go command in the sandbox. The build cache goes to cacheDir
// (Spec.CacheDir, writable) or, when empty, under HOME (the sandbox's private /tmp), as does
// GOPATH. Nothing is
// fetched: GOPROXY=off and GOTOOLCHAIN=local, so a module missing from GOMODCACHE is an error.
func (g GoToolchain) Env(cacheDir string) map[string]string {
	env := map[string]string{
		"GOROOT":      g.GOROOT,
		"PATH":        filepath.Join(g.GOROOT, "bin") + ":" + DefaultPath,
		"GOPROXY":     "off",
		"GOTOOLCHAIN": "local",
		"GOTELEMETRY": "off",
	}
	if g.GOMODCACHE != "" && filepath.IsAbs(g.GOMODCACHE) {
		env["GOMODCACHE"] = g.GOMODCACHE
	}
	if cacheDir != "" {
		env["GOCACHE"] = filepath.Join(cacheDir, "go-build")
	}
	return env
}
