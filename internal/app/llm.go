package app

import (
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vibecoder/vibecoder/internal/cache"
	"github.com/vibecoder/vibecoder/internal/config"
	"github.com/vibecoder/vibecoder/internal/httpapi"
	"github.com/vibecoder/vibecoder/internal/llm"
	"github.com/vibecoder/vibecoder/internal/llm/gateway"
	"github.com/vibecoder/vibecoder/internal/llm/pricing"
	"github.com/vibecoder/vibecoder/internal/ratelimit"
	"github.com/vibecoder/vibecoder/internal/store"
)

// defaultModels are advertised by GET /v1/models for each provider configured.
var defaultModels = map[string][]string{
	"openai":    {"gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini", "o4-mini"},
	"anthropic": {"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"},
	"google":    {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite"},
	"xai":       {"grok-4", "grok-3", "grok-3-mini"},
}

// Providers builds the LLM providers the configuration enables: one per API key, the
// "openai" provider also from OPENAI_BASE_URL alone (an OpenAI-compatible server needs
// no key), and each VIBECODER_OPENAI_COMPATIBLE entry.
func Providers(cfg config.Config) ([]llm.Provider, error) {
	var out []llm.Provider
	add := func(p llm.Provider, err error) error {
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	}
	pc := func(key, base string) llm.ProviderConfig {
		return llm.ProviderConfig{APIKey: key, BaseURL: base, Timeout: cfg.LLMTimeout}
	}
	var err error
	switch {
	case cfg.OpenAIKey != "":
		err = add(llm.NewOpenAI(pc(cfg.OpenAIKey, cfg.OpenAIBaseURL)))
	case cfg.OpenAIBaseURL != "":
		c := pc("", cfg.OpenAIBaseURL)
		c.Name = "openai"
		err = add(llm.NewOpenAICompatible(c))
	}
	if err == nil && cfg.AnthropicKey != "" {
		err = add(llm.NewAnthropic(pc(cfg.AnthropicKey, cfg.AnthropicBaseURL)))
	}
	if err == nil && cfg.GoogleKey != "" {
		err = add(llm.NewGemini(pc(cfg.GoogleKey, cfg.GoogleBaseURL)))
	}
	if err == nil && cfg.XAIKey != "" {
		err = add(llm.NewXAI(pc(cfg.XAIKey, cfg.XAIBaseURL)))
	}
	names := make([]string, 0, len(cfg.Compatible))
	for name := range cfg.Compatible {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err != nil {
			break
		}
		c := pc("", cfg.Compatible[name])
		c.Name = name
		err = add(llm.NewOpenAICompatible(c))
	}
	if err != nil {
		return nil, fmt.Errorf("configure LLM providers: %w", err)
	}
	return out, nil
}

// NewGateway builds the LLM gateway: providers, the response cache and rate limiter
// (in process, or in Redis when rdb is set), the price table and the usage store.
func NewGateway(cfg config.Config, st store.Store, rdb *redis.Client, log *slog.Logger) (*gateway.Gateway, func() httpapi.LLMCacheInfo, error) {
	providers, err := Providers(cfg)
	if err != nil {
		return nil, nil, err
	}
	models := map[string][]string{}
	for _, p := range providers {
		models[p.Name()] = defaultModels[p.Name()]
	}
	reg, err := llm.NewRegistry(llm.RegistryConfig{Providers: providers, Models: models, Aliases: cfg.ModelAliases, DefaultModel: cfg.DefaultModel})
	if err != nil {
		return nil, nil, err
	}
	prices, err := pricing.Load(cfg.PricesFile)
	if err != nil {
		return nil, nil, err
	}
	var c cache.Cache
	var lim ratelimit.Limiter
	info := httpapi.LLMCacheInfo{Scope: cfg.CacheScope}
	if rdb != nil {
		c = cache.NewRedis(rdb, "vibecoder:cache:")
		lim = ratelimit.NewRedis(rdb, "vibecoder:rl:")
		info.Backend = "redis"
		if cfg.CacheNearTTL > 0 {
			near, err := cache.NewMemory(min(cfg.CacheMaxBytes, 64<<20))
			if err != nil {
				return nil, nil, err
			}
			c = cache.NewTiered(near, c, cfg.CacheNearTTL)
			info.Backend = "redis+near"
		}
	} else {
		mem, err := cache.NewMemory(cfg.CacheMaxBytes)
		if err != nil {
			return nil, nil, err
		}
		c, lim = mem, ratelimit.NewMemory(time.Now)
		info.Backend = "memory"
	}
	g, err := gateway.New(reg, c, lim, prices, st, log, gateway.Config{
		CacheTTL:          cfg.CacheTTL,
		CacheScope:        cfg.CacheScope,
		RequestsPerMinute: cfg.LLMRPM,
		TokensPerMinute:   cfg.LLMTPM,
		MonthlyBudgetUSD:  cfg.LLMBudgetUSD,
		MaxAttempts:       cfg.LLMMaxAttempts,
		Fallbacks:         cfg.Fallbacks,
	})
	if err != nil {
		return nil, nil, err
	}
	stats := func() httpapi.LLMCacheInfo {
		out := info
		s := c.Stats()
		out.Entries, out.Bytes = s.Entries, s.Bytes
		return out
	}
	names := reg.Providers()
	log.Info("llm gateway ready", slog.Any("providers", names), slog.String("cache", info.Backend), slog.String("cache_scope", cfg.CacheScope))
	return g, stats, nil
}
