package observe

import "syscall"

// Free-space thresholds: below the first the disk is "low" (degraded), below the
// second "critical" (down: writes are about to fail).
const (
	diskLowPercent      = 10
	diskLowBytes        = 1 << 30
	diskCriticalPercent = 1
	diskCriticalBytes   = 100 << 20
)

func checkDisk(path string) DiskCheck {
	if path == "" {
		return DiskCheck{Status: "ok"}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return DiskCheck{Status: "low", Path: path, Error: err.Error()}
	}
	free := st.Bavail * uint64(st.Bsize)
	total := st.Blocks * uint64(st.Bsize)
	d := DiskCheck{Status: "ok", Path: path, FreeBytes: free}
	return classifyDisk(d, free, total)
}

func classifyDisk(d DiskCheck, free, total uint64) DiskCheck {
	if total > 0 {
		d.FreePercent = float64(free) * 100 / float64(total)
	}
	switch {
	case free < diskCriticalBytes || (total > 0 && d.FreePercent < diskCriticalPercent):
		d.Status = "critical"
	case free < diskLowBytes || (total > 0 && d.FreePercent < diskLowPercent):
		d.Status = "low"
	}
	return d
}
