package app

import (
	"context"
	"errors"

	"github.com/riverqueue/river"

	"github.com/vibecoder/vibecoder/internal/gitops"
	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/store"
)

// indexJobs adapts the indexer to the index job's interface. The indexer checks the
// repository against the policy for the project's owner each time; a refusal is not
// retried.
type indexJobs struct {
	ix *index.Indexer
}

func (a indexJobs) Index(ctx context.Context, p *store.Project, progress func(typ string, data any)) (any, error) {
	stats, err := a.ix.Index(ctx, p, func(ev index.Event) { progress("index.progress", ev) })
	if errors.Is(err, gitops.ErrRepoForbidden) || errors.Is(err, gitops.ErrRepoInvalid) {
		return stats, river.JobCancel(err)
	}
	return stats, err
}

// buildIndexer creates the repository indexer (embedding through the gateway's
// providers when an embedding model is configured).
func (a *App) buildIndexer() (*index.Indexer, error) {
	return index.New(a.Store, a.LLM.Registry(), a.Log, index.Config{
		DataDir:        a.Config.DataDir,
		EmbeddingModel: a.Config.EmbeddingModel,
		CloneTimeout:   a.Config.IndexCloneTimeout,
		Repos:          a.Repos,
		Git:            a.Git,
	})
}
