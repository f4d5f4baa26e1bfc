package app

import (
	"context"

	"github.com/riverqueue/river"

	"github.com/vibecoder/vibecoder/internal/index"
	"github.com/vibecoder/vibecoder/internal/store"
)

// indexJobs adapts the indexer to the index job's interface, checking first that the
// project's owner may have the server read its repository.
type indexJobs struct {
	ix    *index.Indexer
	st    store.Store
	check func(repo string, admin bool) error
}

func (a indexJobs) Index(ctx context.Context, p *store.Project, progress func(typ string, data any)) (any, error) {
	u, err := a.st.GetUser(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if err := a.check(p.RepoURL, u.IsAdmin); err != nil {
		return nil, river.JobCancel(err)
	}
	return a.ix.Index(ctx, p, func(ev index.Event) { progress("index.progress", ev) })
}

// buildIndexer creates the repository indexer (embedding through the gateway's
// providers when an embedding model is configured).
func (a *App) buildIndexer() (*index.Indexer, error) {
	return index.New(a.Store, a.LLM.Registry(), a.Log, index.Config{
		DataDir:        a.Config.DataDir,
		EmbeddingModel: a.Config.EmbeddingModel,
	})
}
