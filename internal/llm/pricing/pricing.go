// Package pricing turns an LLM call's token counts into US dollars, from a price table
// embedded in the binary (prices.json) that an operator can override or extend with a
// JSON file of the same shape (VIBECODER_PRICES_FILE).
package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

//go:embed prices.json
var embeddedPrices []byte

// Price is what a model costs, in USD per 1M tokens.
type Price struct {
	Input       float64
	Output      float64
	CachedInput float64 // prompt tokens read from the provider's prompt cache
	// LongContext, when set, replaces the rates for a whole request whose prompt
	// exceeds LongContext.Above tokens (Gemini 2.5 Pro, Claude Sonnet 4.x, Grok 4).
	LongContext *LongContext
}

// LongContext is the tier for requests with long prompts.
type LongContext struct {
	Above       int
	Input       float64
	Output      float64
	CachedInput float64
}

// Table is a read-only price table, safe for concurrent use.
type Table struct {
	asOf   string
	prices map[string]Price // "provider/model", lower case
	// models per provider, longest first, for prefix lookup of dated variants.
	byProvider map[string][]string
}

// Load returns the embedded table, with the entries of the JSON file at overridePath
// (if not empty) added or replacing embedded entries of the same key whole.
func Load(overridePath string) (*Table, error) {
	base, err := parse(embeddedPrices)
	if err != nil {
		return nil, fmt.Errorf("pricing: embedded prices.json: %w", err)
	}
	t := &Table{asOf: base.asOf, prices: base.prices}
	if overridePath != "" {
		data, err := os.ReadFile(overridePath)
		if err != nil {
			return nil, fmt.Errorf("pricing: read prices file: %w", err)
		}
		over, err := parse(data)
		if err != nil {
			return nil, fmt.Errorf("pricing: prices file %s: %w", overridePath, err)
		}
		for k, p := range over.prices {
			t.prices[k] = p
		}
		if over.asOf != "" {
			t.asOf = over.asOf
		}
	}
	t.byProvider = make(map[string][]string)
	for key := range t.prices {
		provider, model, _ := strings.Cut(key, "/")
		t.byProvider[provider] = append(t.byProvider[provider], model)
	}
	for _, models := range t.byProvider {
		slices.SortFunc(models, func(a, b string) int { return len(b) - len(a) })
	}
	return t, nil
}

// AsOf is the date the prices were taken (the override file's as_of if it has one).
func (t *Table) AsOf() string { return t.asOf }

// Len is the number of priced models.
func (t *Table) Len() int { return len(t.prices) }

// Lookup finds the price of provider's model: the exact "provider/model" entry, else
// the longest entry that is a prefix of model followed by '-', '@' or ':' (so
// "gpt-4o-mini-2024-07-18" finds "gpt-4o-mini" and "claude-sonnet-4-5@20250929" finds
// "claude-sonnet-4-5"). Matching ignores case and a leading "models/" (Gemini's
// resource names). key is the entry used.
func (t *Table) Lookup(provider, model string) (key string, p Price, ok bool) {
	provider = strings.ToLower(provider)
	model = strings.ToLower(model)
	model = strings.TrimPrefix(model, "models/")
	model = strings.TrimPrefix(model, provider+"/")
	if p, ok := t.prices[provider+"/"+model]; ok {
		return provider + "/" + model, p, true
	}
	for _, m := range t.byProvider[provider] {
		if len(model) > len(m) && strings.HasPrefix(model, m) && strings.ContainsRune("-@:", rune(model[len(m)])) {
			return provider + "/" + m, t.prices[provider+"/"+m], true
		}
	}
	return "", Price{}, false
}

// Cost is the price in USD of one call. cachedTokens are the part of promptTokens read
// from the provider's prompt cache and billed at the cached rate. A model the table does
// not know (local models such as ollama/*, anything unlisted) costs 0 with priced false,
// so callers can report it as unpriced rather than free. Negative counts count as 0.
func (t *Table) Cost(provider, model string, promptTokens, completionTokens, cachedTokens int) (usd float64, priced bool) {
	_, p, ok := t.Lookup(provider, model)
	if !ok {
		return 0, false
	}
	return p.Cost(promptTokens, completionTokens, cachedTokens), true
}

// Cost is the price in USD of a call with these token counts (see Table.Cost).
func (p Price) Cost(promptTokens, completionTokens, cachedTokens int) float64 {
	prompt := max(promptTokens, 0)
	completion := max(completionTokens, 0)
	cached := min(max(cachedTokens, 0), prompt)
	in, out, cin := p.Input, p.Output, p.CachedInput
	if lc := p.LongContext; lc != nil && prompt > lc.Above {
		in, out, cin = lc.Input, lc.Output, lc.CachedInput
	}
	return (float64(prompt-cached)*in + float64(cached)*cin + float64(completion)*out) / 1e6
}

// The file format. Prices are pointers so a missing field is told from a zero one.
type fileTable struct {
	AsOf   string                `json:"as_of"`
	Note   string                `json:"note"`
	Models map[string]*fileEntry `json:"models"`
}

type fileEntry struct {
	Input       *float64     `json:"input"`
	Output      *float64     `json:"output"`
	CachedInput *float64     `json:"cached_input"`
	LongContext *fileLongCtx `json:"long_context"`
	Note        string       `json:"note"`
}

type fileLongCtx struct {
	Above       int      `json:"above"`
	Input       *float64 `json:"input"`
	Output      *float64 `json:"output"`
	CachedInput *float64 `json:"cached_input"`
}

type parsed struct {
	asOf   string
	prices map[string]Price
}

func parse(data []byte) (parsed, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f fileTable
	if err := dec.Decode(&f); err != nil {
		return parsed{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return parsed{}, errors.New("invalid JSON: data after the top-level object")
	}
	if f.Models == nil {
		return parsed{}, errors.New(`missing "models" object`)
	}
	out := parsed{asOf: f.AsOf, prices: make(map[string]Price, len(f.Models))}
	for rawKey, e := range f.Models {
		key := strings.ToLower(rawKey)
		provider, model, ok := strings.Cut(key, "/")
		if !ok || provider == "" || model == "" {
			return parsed{}, fmt.Errorf("model %q: key must be \"provider/model\"", rawKey)
		}
		if _, dup := out.prices[key]; dup {
			return parsed{}, fmt.Errorf("model %q: listed twice (keys ignore case)", rawKey)
		}
		p, err := e.price()
		if err != nil {
			return parsed{}, fmt.Errorf("model %q: %w", rawKey, err)
		}
		out.prices[key] = p
	}
	return out, nil
}

func (e *fileEntry) price() (Price, error) {
	if e == nil {
		return Price{}, errors.New("entry is null")
	}
	in, out, cached, err := rates(e.Input, e.Output, e.CachedInput)
	if err != nil {
		return Price{}, err
	}
	p := Price{Input: in, Output: out, CachedInput: cached}
	if lc := e.LongContext; lc != nil {
		if lc.Above <= 0 {
			return Price{}, fmt.Errorf("long_context.above must be a positive token count, got %d", lc.Above)
		}
		in, out, cached, err := rates(lc.Input, lc.Output, lc.CachedInput)
		if err != nil {
			return Price{}, fmt.Errorf("long_context: %w", err)
		}
		p.LongContext = &LongContext{Above: lc.Above, Input: in, Output: out, CachedInput: cached}
	}
	return p, nil
}

// rates checks one tier's rates; cached input defaults to the input rate (a model
// without prompt caching bills cached tokens as ordinary input).
func rates(input, output, cachedInput *float64) (in, out, cached float64, err error) {
	if input == nil {
		return 0, 0, 0, errors.New(`missing "input" price`)
	}
	if output == nil {
		return 0, 0, 0, errors.New(`missing "output" price (use 0 for embedding models)`)
	}
	if cachedInput == nil {
		cachedInput = input
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"input", *input}, {"output", *output}, {"cached_input", *cachedInput}} {
		if r.v < 0 || math.IsInf(r.v, 0) || math.IsNaN(r.v) {
			return 0, 0, 0, fmt.Errorf("%s price must be a non-negative number of USD per 1M tokens, got %v", r.name, r.v)
		}
	}
	return *input, *output, *cachedInput, nil
}
