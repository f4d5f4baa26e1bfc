package sandbox

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type cgroupKind int

const (
	cgNone cgroupKind = iota
	cgV1
	cgV2
)

func (k cgroupKind) String() string {
	switch k {
	case cgV1:
		return "cgroup-v1"
	case cgV2:
		return "cgroup-v2"
	}
	return "none"
}

// cgroupManager creates one child cgroup per run under parent, a cgroup this process may write to.
// It never changes an existing cgroup: it only creates and removes its own children.
type cgroupManager struct {
	kind   cgroupKind
	parent string
	memory bool // memory.max can be set (v2 with the memory controller delegated)
}

const cgroupMount = "/sys/fs/cgroup"

// detectCgroups finds where per-run cgroups can be made: under this process's cgroup v2 when the
// pids controller is already enabled for its children (systemd Delegate=yes with a sub-cgroup, or
// a container's root cgroup), else under this process's cgroup in a v1 pids hierarchy.
func detectCgroups() cgroupManager {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return cgroupManager{}
	}
	own := map[string]string{} // controller ("" for v2) -> path
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	if _, err := os.Stat(filepath.Join(cgroupMount, "cgroup.controllers")); err == nil {
		if p, ok := own[""]; ok {
			parent := filepath.Join(cgroupMount, p)
			ctl, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
			fields := strings.Fields(string(ctl))
			if slices.Contains(fields, "pids") && probe(parent) {
				return cgroupManager{kind: cgV2, parent: parent, memory: slices.Contains(fields, "memory")}
			}
		}
		return cgroupManager{}
	}
	if p, ok := own["pids"]; ok {
		parent := filepath.Join(cgroupMount, "pids", p)
		if probe(parent) {
			return cgroupManager{kind: cgV1, parent: parent}
		}
	}
	return cgroupManager{}
}

func probe(parent string) bool {
	dir := filepath.Join(parent, cgroupName())
	if err := os.Mkdir(dir, 0o755); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, "pids.max"))
	_ = os.Remove(dir)
	return err == nil
}

func cgroupName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("vibecoder-sandbox-%d-%s", os.Getpid(), hex.EncodeToString(b))
}

type cgroup struct {
	kind cgroupKind
	dir  string
}

func (m cgroupManager) create(maxProcs, memoryBytes int64) (*cgroup, error) {
	cg := &cgroup{kind: m.kind, dir: filepath.Join(m.parent, cgroupName())}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: create cgroup: %w", err)
	}
	set := func(file string, v int64) error {
		if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(strconv.FormatInt(v, 10)), 0); err != nil {
			_ = os.Remove(cg.dir)
			return fmt.Errorf("sandbox: cgroup %s: %w", file, err)
		}
		return nil
	}
	if maxProcs > 0 {
		if err := set("pids.max", maxProcs); err != nil {
			return nil, err
		}
	}
	if m.memory && memoryBytes > 0 {
		if err := set("memory.max", memoryBytes); err != nil {
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(cg.dir, "memory.swap.max")); err == nil {
			if err := set("memory.swap.max", 0); err != nil {
				return nil, err
			}
		}
	}
	return cg, nil
}

func (c *cgroup) procsFile() string { return filepath.Join(c.dir, "cgroup.procs") }

// events reports whether a fork was refused by pids.max and whether the OOM killer ran.
func (c *cgroup) events() (procLimit, memLimit bool) {
	procLimit = eventCount(filepath.Join(c.dir, "pids.events"), "max") > 0
	if c.kind == cgV2 {
		memLimit = eventCount(filepath.Join(c.dir, "memory.events"), "oom_kill") > 0
	}
	return procLimit, memLimit
}

func eventCount(file, key string) int64 {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// destroy kills whatever is left in the cgroup and removes it. Under bubblewrap the PID namespace is
// gone by now; this matters for unsandboxed runs whose children left the process group.
func (c *cgroup) destroy(log *slog.Logger) {
	if c.kind == cgV2 {
		_ = os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(c.procsFile())
		if err != nil {
			break
		}
		pids := strings.Fields(string(data))
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			log.Error("sandbox cgroup still has processes", slog.String("cgroup", c.dir), slog.Int("processes", len(pids)))
			return
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 500 { // exiting tasks can hold a v1 cgroup busy for a moment
		err := os.Remove(c.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	log.Error("could not remove sandbox cgroup", slog.String("cgroup", c.dir))
}
