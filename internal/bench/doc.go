// Package bench holds end-to-end benchmarks of Vibe Coder's production paths (the LLM gateway through app.New and real HTTP); results are recorded in docs/BENCHMARKS.md.
package bench
