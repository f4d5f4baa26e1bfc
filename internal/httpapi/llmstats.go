package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/vibecoder/vibecoder/internal/store"
)

type modelStatsView struct {
	Provider          string  `json:"provider"`
	Model             string  `json:"model"`
	Calls             int64   `json:"calls"`
	Hits              int64   `json:"hits"`
	Misses            int64   `json:"misses"`
	HitRate           float64 `json:"hit_rate"`
	TokensSaved       int64   `json:"tokens_saved"`
	CostUSD           float64 `json:"cost_usd"`
	CostSavedUSD      float64 `json:"cost_saved_usd"`
	MeanHitLatencyMS  float64 `json:"mean_hit_latency_ms"`
	MeanMissLatencyMS float64 `json:"mean_miss_latency_ms"`
}

type cacheStatsView struct {
	Scope  string           `json:"scope"` // "user" or "all"
	Since  time.Time        `json:"since"`
	Totals modelStatsView   `json:"totals"`
	Models []modelStatsView `json:"models"`
	Cache  LLMCacheInfo     `json:"cache"`
}

func rate(hits, calls int64) float64 {
	if calls == 0 {
		return 0
	}
	return float64(hits) / float64(calls)
}

// cacheStats answers GET /llm/cache/stats[?all=true][&since=RFC3339]: the caller's
// cache performance per model, or every user's for an administrator.
func (s *Server) cacheStats(w http.ResponseWriter, r *http.Request) {
	u := userFrom(r.Context())
	q := r.URL.Query()
	scope, who := "user", u.ID
	if q.Get("all") == "true" {
		if !u.IsAdmin {
			s.problem(w, r, http.StatusForbidden, "Forbidden", "only administrators can see every user's statistics")
			return
		}
		scope, who = "all", uuid.Nil
	}
	since := time.Now().UTC().AddDate(0, 0, -30)
	if raw := q.Get("since"); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			s.problem(w, r, http.StatusBadRequest, "Bad Request", "since must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			return
		}
		since = t.UTC()
	}
	rows, err := s.store.UsageStats(r.Context(), who, since)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := cacheStatsView{Scope: scope, Since: since, Models: []modelStatsView{}}
	if s.llmCacheInfo != nil {
		out.Cache = s.llmCacheInfo()
	}
	var hitLat, missLat float64
	for _, st := range rows {
		out.Models = append(out.Models, viewModelStats(st))
		t := &out.Totals
		t.Calls += st.Calls
		t.Hits += st.Hits
		t.Misses += st.Misses
		t.TokensSaved += st.TokensSaved
		t.CostUSD += st.CostUSD
		t.CostSavedUSD += st.CostSavedUSD
		hitLat += st.MeanHitLatencyMS * float64(st.Hits)
		missLat += st.MeanMissLatencyMS * float64(st.Misses)
	}
	out.Totals.Provider, out.Totals.Model = "*", "*"
	out.Totals.HitRate = rate(out.Totals.Hits, out.Totals.Calls)
	if out.Totals.Hits > 0 {
		out.Totals.MeanHitLatencyMS = hitLat / float64(out.Totals.Hits)
	}
	if out.Totals.Misses > 0 {
		out.Totals.MeanMissLatencyMS = missLat / float64(out.Totals.Misses)
	}
	writeJSON(w, http.StatusOK, out)
}

func viewModelStats(st store.UsageStats) modelStatsView {
	return modelStatsView{Provider: st.Provider, Model: st.Model, Calls: st.Calls, Hits: st.Hits, Misses: st.Misses,
		HitRate: rate(st.Hits, st.Calls), TokensSaved: st.TokensSaved, CostUSD: st.CostUSD, CostSavedUSD: st.CostSavedUSD,
		MeanHitLatencyMS: st.MeanHitLatencyMS, MeanMissLatencyMS: st.MeanMissLatencyMS}
}
