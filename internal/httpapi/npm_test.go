package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vibecoder/vibecoder/internal/llm/llmtest"
)

// nodeUsage is OpenAI's usage object as the openai npm package hands it over.
type nodeUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// nodeSummary is what test/npm/chat.mjs prints.
type nodeSummary struct {
	Normal struct {
		Object       string     `json:"object"`
		Model        string     `json:"model"`
		Text         string     `json:"text"`
		Role         string     `json:"role"`
		FinishReason string     `json:"finish_reason"`
		Usage        *nodeUsage `json:"usage"`
	} `json:"normal"`
	Stream struct {
		Text         string     `json:"text"`
		Deltas       []string   `json:"deltas"`
		Role         string     `json:"role"`
		FinishReason string     `json:"finish_reason"`
		Usage        *nodeUsage `json:"usage"`
	} `json:"stream"`
}

// TestOpenAINodeClient drives the OpenAI-compatible API with a client we did not write:
// the official openai npm package (pinned in test/npm/package.json, installed by
// scripts/test.sh), one plain completion and one stream with usage.
func TestOpenAINodeClient(t *testing.T) {
	node, script := nodeClient(t)
	forEachDialectLLM(t, nil, nil, func(t *testing.T, e *llmEnv) {
		c := e.llmUser(t, "npm")
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, script)
		cmd.Env = append(os.Environ(), "OPENAI_BASE_URL="+e.srv.URL+"/v1", "OPENAI_API_KEY="+c.bearer, "CHAT_MODEL="+gptMini)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("node %s: %v\nstderr:\n%s", script, err, stderr.Bytes())
		}
		var got nodeSummary
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
			t.Fatalf("chat.mjs output is not its JSON summary: %v\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
		}

		n := got.Normal
		if n.Object != "chat.completion" || n.Model != gptMini || n.Role != "assistant" || n.Text != fakeText || n.FinishReason != "stop" {
			t.Errorf("completion as the npm client saw it: %+v", n)
		}
		s := got.Stream
		if s.Text != fakeText || !llmtest.JoinedFrom(s.Deltas, fakeChunks) || s.Role != "assistant" || s.FinishReason != "stop" {
			t.Errorf("stream as the npm client saw it: %+v", s)
		}
		for what, u := range map[string]*nodeUsage{"completion": n.Usage, "stream": s.Usage} {
			if u == nil || u.PromptTokens <= 0 || u.CompletionTokens != len(fakeChunks) || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
				t.Errorf("%s usage as the npm client saw it: %+v", what, u)
			}
		}

		reqs := e.openAI.Requests()
		if len(reqs) != 2 || reqs[0].Stream || !reqs[1].Stream {
			t.Fatalf("upstream got %d requests, want one plain then one streamed", len(reqs))
		}
		if reqs[0].Model != "gpt-4o-mini" || reqs[0].LastUserMessage() == "" {
			t.Errorf("upstream request: model %q prompt %q", reqs[0].Model, reqs[0].LastUserMessage())
		}
	})
}

// nodeClient returns node and test/npm/chat.mjs, once npm ci has installed its
// dependencies. Without them the test fails under CI=true and is skipped, loudly,
// elsewhere.
func nodeClient(t *testing.T) (node, script string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		const fix = "; install Node.js 20 or later and run: npm ci --prefix test/npm (scripts/test.sh does)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and "+format+fix, args...)
		}
		t.Skipf("SKIPPED, NOT TESTED: "+format+fix, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH (%v)", err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "test", "npm")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err != nil {
		missing("the openai npm package is not installed in %s (%v)", dir, err)
	}
	return node, filepath.Join(dir, "chat.mjs")
}

// repoRoot is the directory holding go.mod, found upwards from the test's directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's working directory")
		}
		dir = parent
	}
}
