package gitops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Open returns a workspace an earlier step created in dir (a later pipeline step runs
// in another job, perhaps another process on the same machine). source (shown, not
// used: Push is given the repository), local and the base are what Create recorded;
// the base commit must exist in the workspace.
func (w *Workspaces) Open(ctx context.Context, dir, source string, local bool, baseBranch, baseSHA string) (*Workspace, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open workspace: %w", err)
	}
	ws := &Workspace{Dir: dir, GitDir: dir + ".git", ws: w, Source: RedactURL(source), Local: local,
		BaseBranch: baseBranch, BaseSHA: baseSHA}
	for _, p := range []string{ws.Dir, ws.GitDir} {
		if st, err := os.Stat(p); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("open workspace %s: %w", p, os.ErrNotExist)
		}
	}
	if _, err := ws.git(ctx, "cat-file", "-e", baseSHA+"^{commit}"); err != nil {
		return nil, fmt.Errorf("open workspace %s: base %s: %w", dir, baseSHA, err)
	}
	return ws, nil
}

// ApplyDiff applies a unified diff (as Diff returns it) to the working copy; a step
// that finds its workspace gone recreates it from the base and the recorded diff.
func (ws *Workspace) ApplyDiff(ctx context.Context, diff string) error {
	if strings.TrimSpace(diff) == "" {
		return nil
	}
	r := ws.cmd("apply", "--whitespace=nowarn", "-")
	r.stdin = strings.NewReader(diff)
	if _, err := ws.ws.run(ctx, r); err != nil {
		return fmt.Errorf("apply diff to workspace: %w", err)
	}
	return nil
}
