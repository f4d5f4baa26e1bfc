package app

import (
	"github.com/vibecoder/vibecoder/internal/index"
)

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
