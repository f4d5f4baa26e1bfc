package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/safefs"
	"github.com/vibecoder/vibecoder/internal/store"
)

// ErrNoPreview means an execution has no files to preview; the wrapping error says
// why, in words for the user.
var ErrNoPreview = errors.New("nothing to preview")

// snapshotsDir holds the snapshots of finished executions, one bare repository each.
func (p *Pipeline) snapshotsDir() string { return filepath.Join(p.cfg.DataDir, "previews") }

func (p *Pipeline) snapshotDir(e *store.Execution) string {
	return filepath.Join(p.snapshotsDir(), e.ID.String()+".git")
}

// keepSnapshot saves the committed tree for the preview, then removes the snapshots
// older than PreviewRetention. A preview is a convenience: failing to keep one is
// logged, and the execution goes on.
func (p *Pipeline) keepSnapshot(ctx context.Context, e *store.Execution, ws *gitops.Workspace, sha string) {
	if err := ws.SaveSnapshot(ctx, sha, p.snapshotDir(e)); err != nil {
		p.Log.Warn("keep the committed files for the preview", slog.String("execution_id", e.ID.String()), slog.Any("error", err))
	}
	n, err := gitops.PruneSnapshots(p.snapshotsDir(), time.Now().Add(-p.cfg.PreviewRetention))
	if err != nil {
		p.Log.Warn("prune preview snapshots", slog.Any("error", err))
	}
	if n > 0 {
		p.Log.Info("preview snapshots pruned", slog.Int("removed", n), slog.Duration("retention", p.cfg.PreviewRetention))
	}
}

// PreviewFiles returns the files of execution e (which the caller has checked belongs
// to the viewer) for the dashboard's preview, read-only, with the function that
// releases them. While the execution runs they are its working copy, read through
// safefs (no name or symbolic link leads out of it, and only directories and regular
// files open: a FIFO or device cannot block the server); once it has finished they are the
// tree it committed, from a snapshot kept for PreviewRetention (the workspace itself
// is gone). Both read this process's data directory: a server that does not share the
// workers' data directory has no previews. Without files to show, the error wraps
// ErrNoPreview.
func (p *Pipeline) PreviewFiles(ctx context.Context, e *store.Execution) (fs.FS, func(), error) {
	if !terminal(e.Status) {
		tree, err := safefs.Open(p.workspaceDir(e))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: the execution's workspace is not ready yet (or is on another server)", ErrNoPreview)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("open the workspace of execution %s: %w", e.ID, err)
		}
		return tree.FS(), func() { _ = tree.Close() }, nil
	}
	var d Details
	if len(e.Details) > 0 {
		if err := json.Unmarshal(e.Details, &d); err != nil {
			return nil, nil, fmt.Errorf("execution %s details: %w", e.ID, err)
		}
	}
	if d.CommitSHA == "" {
		return nil, nil, fmt.Errorf("%w: the execution ended (%s) without a commit", ErrNoPreview, e.Status)
	}
	s, err := p.Git.OpenSnapshot(ctx, p.snapshotDir(e), d.CommitSHA)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: the files of commit %.12s are no longer kept here (previews last %s; the branch %s still has them)",
			ErrNoPreview, d.CommitSHA, p.cfg.PreviewRetention, d.Branch)
	}
	if err != nil {
		return nil, nil, err
	}
	return s, func() {}, nil
}
