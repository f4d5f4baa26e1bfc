package web

import (
	"fmt"
	"net/http"
	"time"
)

// usageView is what the usage page draws: totals, spend by day and by model, as
// server-rendered inline SVG bars (no script, no chart library).
type usageView struct {
	Calls, Hits             int64
	HitRate                 float64
	TokensSaved             int64
	CostUSD, CostSavedUSD   float64
	Days                    []bar
	Models                  []bar
	ChartWidth, ChartHeight int
	// ModelsHeight is the height of the spend-by-model chart: one row per model.
	ModelsHeight int
}

// bar is one bar of a chart, laid out in SVG units.
type bar struct {
	Label string
	Value float64
	Text  string // the value as shown
	X, Y  float64
	W, H  float64
}

const (
	chartW, chartH = 600, 160
	usageDays      = 30
)

// layout turns values into vertical bars across a chart of chartW × chartH.
func layout(labels []string, values []float64, format func(float64) string) []bar {
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	n := len(values)
	out := make([]bar, n)
	if n == 0 {
		return out
	}
	slot := float64(chartW) / float64(n)
	for i, v := range values {
		h := 0.0
		if peak > 0 {
			h = v / peak * (chartH - 20)
		}
		out[i] = bar{Label: labels[i], Value: v, Text: format(v), X: float64(i)*slot + slot*0.1, W: slot * 0.8, H: h, Y: chartH - h}
	}
	return out
}

// Rows of the horizontal bar chart: a label column, then bars up to the value's text.
const (
	rowH          = 26
	labelW, textW = 220, 90
)

// hlayout turns values into horizontal bars, one row each, labels on the left: model
// names are too long to stand under vertical bars.
func hlayout(labels []string, values []float64, format func(float64) string) ([]bar, int) {
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	out := make([]bar, len(values))
	span := float64(chartW - labelW - textW)
	for i, v := range values {
		w := 0.0
		if peak > 0 {
			w = v / peak * span
		}
		out[i] = bar{Label: labels[i], Value: v, Text: format(v), X: labelW, Y: float64(i*rowH + 4), W: w, H: rowH - 8}
	}
	return out, len(values) * rowH
}

func dollars(v float64) string { return fmt.Sprintf("$%.4f", v) }

func (w *Web) usagePage(rw http.ResponseWriter, r *http.Request, v *viewer) {
	since := time.Now().UTC().AddDate(0, 0, -usageDays)
	days, err := w.st.UsageByDay(r.Context(), v.user.ID, since)
	if err != nil {
		w.serverError(rw, r, err)
		return
	}
	models, err := w.st.UsageStats(r.Context(), v.user.ID, since)
	if err != nil {
		w.serverError(rw, r, err)
		return
	}
	u := usageView{ChartWidth: chartW, ChartHeight: chartH}
	var labels []string
	var values []float64
	for _, d := range days {
		labels, values = append(labels, d.Day), append(values, d.CostUSD)
	}
	u.Days = layout(labels, values, dollars)
	labels, values = nil, nil
	for _, m := range models {
		u.Calls += m.Calls
		u.Hits += m.Hits
		u.TokensSaved += m.TokensSaved
		u.CostUSD += m.CostUSD
		u.CostSavedUSD += m.CostSavedUSD
		labels, values = append(labels, m.Provider+"/"+m.Model), append(values, m.CostUSD)
	}
	if u.Calls > 0 {
		u.HitRate = float64(u.Hits) / float64(u.Calls)
	}
	u.Models, u.ModelsHeight = hlayout(labels, values, dollars)
	w.render(rw, r, http.StatusOK, "usage", pageData{Title: "Usage", User: v.user, CSRF: v.session.CSRFToken, Item: u})
}
