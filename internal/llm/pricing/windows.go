package pricing

import "strings"

// DefaultContextWindow is the context window, in tokens, assumed for a model the
// catalogue does not know (a local model behind an OpenAI-compatible server, a new
// release): small enough for the usual local models, so a prompt sized from it fits.
const DefaultContextWindow = 32768

// contextWindows are the known models' context windows in tokens (input and output
// together), as the providers publish them. A model matches its own entry, or the
// longest entry that is a prefix of it followed by '-', '@' or ':', as in Lookup.
var contextWindows = map[string]int{
	"gpt-4o": 128000, "gpt-4o-mini": 128000, "gpt-4-turbo": 128000, "gpt-4": 8192,
	"gpt-4.1": 1047576, "gpt-4.1-mini": 1047576, "gpt-4.1-nano": 1047576,
	"o1": 200000, "o3": 200000, "o3-mini": 200000, "o4-mini": 200000,
	"gpt-5": 400000, "gpt-5-mini": 400000, "gpt-5-nano": 400000, "gpt-5-pro": 400000, "gpt-5.1": 400000,
	"claude-opus-4-5": 200000, "claude-opus-4-1": 200000, "claude-opus-4": 200000,
	"claude-sonnet-4-5": 200000, "claude-sonnet-4": 200000, "claude-3-7-sonnet": 200000, "claude-3-5-sonnet": 200000,
	"claude-haiku-4-5": 200000, "claude-3-5-haiku": 200000, "claude-3-haiku": 200000,
	"gemini-2.5-pro": 1048576, "gemini-2.5-flash": 1048576, "gemini-2.5-flash-lite": 1048576,
	"gemini-2.0-flash": 1048576, "gemini-1.5-pro": 2097152, "gemini-1.5-flash": 1048576,
	"grok-4": 256000, "grok-4-fast": 2000000, "grok-code-fast-1": 256000,
	"grok-3": 131072, "grok-3-fast": 131072, "grok-3-mini": 131072, "grok-3-mini-fast": 131072,
}

// ContextWindow returns the context window in tokens of a model, by its name alone (the
// same model has the same window whichever provider or proxy serves it): the
// catalogue's entry for the model or its family, else DefaultContextWindow. Matching
// ignores case, a leading "models/" and a leading "provider/".
func ContextWindow(model string) int {
	m := strings.ToLower(strings.TrimSpace(model))
	m = strings.TrimPrefix(m, "models/")
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	if w, ok := contextWindows[m]; ok {
		return w
	}
	best, window := 0, DefaultContextWindow
	for k, w := range contextWindows {
		if len(k) > best && len(m) > len(k) && strings.HasPrefix(m, k) && strings.ContainsRune("-@:", rune(m[len(k)])) {
			best, window = len(k), w
		}
	}
	return window
}
