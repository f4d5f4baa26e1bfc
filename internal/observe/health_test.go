package observe

import (
	"context"
	"errors"
	"testing"
)

func up(context.Context) error   { return nil }
func down(context.Context) error { return errors.New("connection refused") }

func TestHealthStatuses(t *testing.T) {
	jobs := func(w int, q int64, err error) JobsProbe {
		return func(context.Context) (int, int64, error) { return w, q, err }
	}
	for _, tc := range []struct {
		name   string
		db     Pinger
		redis  Pinger
		jobs   JobsProbe
		status string
	}{
		{"all up, no redis", up, nil, jobs(1, 5, nil), StatusOK},
		{"database down", down, nil, nil, StatusDown},
		{"redis down", up, down, nil, StatusDown},
		{"jobs waiting, no worker", up, up, jobs(0, 3, nil), StatusDegraded},
		{"no worker, nothing waiting", up, nil, jobs(0, 0, nil), StatusOK},
		{"job check failing", up, nil, jobs(0, 0, errors.New("boom")), StatusDegraded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHealth("sqlite", tc.db, tc.redis)
			h.SetDisk(t.TempDir())
			if tc.jobs != nil {
				h.SetJobs(tc.jobs)
			}
			r := h.Check(t.Context())
			if r.Status != tc.status || r.Healthy != (tc.status != StatusDown) {
				t.Fatalf("status %q healthy %v, want %q", r.Status, r.Healthy, tc.status)
			}
			if ready, _ := h.Ready(t.Context()); ready != (tc.status != StatusDown) {
				t.Fatalf("ready %v for %s", ready, tc.status)
			}
		})
	}
}

func TestDiskClassification(t *testing.T) {
	for _, tc := range []struct {
		free, total uint64
		want        string
	}{
		{50 << 30, 100 << 30, "ok"},
		{5 << 30, 100 << 30, "low"},
		{512 << 20, 2 << 30, "low"},
		{500 << 20, 100 << 30, "critical"},
		{50 << 20, 1 << 30, "critical"},
	} {
		if got := classifyDisk(DiskCheck{Status: "ok"}, tc.free, tc.total); got.Status != tc.want {
			t.Errorf("free %d of %d: %s, want %s", tc.free, tc.total, got.Status, tc.want)
		}
	}
	if d := checkDisk(t.TempDir()); d.Status == "" || d.FreeBytes == 0 {
		t.Fatalf("real disk check: %+v", d)
	}
}
