package sandbox

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// sandboxUID is the uid and gid the command has inside its user namespace when the server is not
// root: no capabilities there, and on the host it is the server's own (non-root) uid.
const sandboxUID = "1000"

// systemDirs are bound read-only (or recreated as the same symlinks, on merged-/usr systems). Only
// these, the workspace, an optional cache dir and Config.ExtraReadOnly exist in the sandbox: not
// /root, /home, /var (databases, Redis), /run (sockets), /srv, /opt, /mnt, the data dir or /sys.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// hiddenPaths are secrets under systemDirs: files are covered by an empty one, directories by an
// empty read-only tmpfs. The sandbox user maps to the server's uid, which owns them when it is root.
var hiddenPaths = []string{
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/security/opasswd",
	"/etc/ssh", "/etc/ssl/private", "/etc/sudoers", "/etc/sudoers.d",
	"/etc/postgresql", "/etc/postgresql-common", "/etc/redis", "/etc/vibecoder", "/etc/default/vibecoder",
	"/etc/credstore", "/etc/credstore.encrypted",
}

// bwrapArgs builds the bubblewrap command line up to the command. Order matters: later mounts go on
// top of earlier ones, so the private /tmp comes before the workspace (which may live under /tmp)
// and the root is made read-only last.
func (r *Runner) bwrapArgs(workspace, cacheDir string) []string {
	// Order matters: bwrap applies its operations in the order given.
	a := append(r.namespaceArgs(), r.systemMounts()...)
	// bwrap would copy the host's modes onto the directories it makes for mount points, and a
	// 0700 root-owned data dir or /root would keep the command out of what is mounted below it.
	made := map[string]bool{}
	parents := func(p string) {
		for _, d := range ancestors(p) {
			if !made[d] && !underAny(d, systemDirs) {
				made[d] = true
				a = append(a, "--perms", "0755", "--dir", d)
			}
		}
	}
	for _, p := range r.cfg.ExtraReadOnly {
		if _, err := os.Stat(p); err == nil {
			parents(p)
			a = append(a, "--ro-bind", p, p)
		}
	}
	if r.prlimit != "" && !underAny(r.prlimit, systemDirs) && !underAny(r.prlimit, r.cfg.ExtraReadOnly) {
		a = append(a, "--ro-bind", r.prlimit, r.prlimit)
	}
	if cacheDir != "" {
		parents(cacheDir)
		a = append(a, "--bind", cacheDir, cacheDir)
	}
	if r.seccomp != nil {
		// Applied by bwrap last, just before it runs the command: see seccomp.go. The filter
		// is on fd 3 (Run's cmd.ExtraFiles).
		a = append(a, "--seccomp", "3")
	}
	parents(workspace)
	a = append(a,
		"--bind", workspace, workspace,
		// The root is bwrap's own tmpfs: without this the command could fill memory through it.
		"--remount-ro", "/",
		"--chdir", workspace,
		"--",
	)
	return a
}

// namespaceArgs are the sandbox's namespaces, capabilities and session.
func (r *Runner) namespaceArgs() []string {
	var a []string
	if r.root {
		// As root, bwrap runs privileged and the command drops to cfg.UID through setpriv (see
		// Run). Not --unshare-user: bwrap would map the command's uid to host root, and a process
		// whose uid is host root passes every file-mode check — it can write /proc/sys (say
		// kernel.core_pattern, which runs a program as root on the host), read root-only files and
		// ignores RLIMIT_NPROC, capabilities or not.
		a = []string{
			"--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
			// Only what setpriv needs to change uid; changing uid drops them all.
			"--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP",
			// And to enter the workspace (--chdir) before setpriv runs: it now belongs to cfg.UID.
			"--cap-add", "CAP_DAC_READ_SEARCH",
		}
	} else {
		a = []string{
			// Every namespace, the user namespace included: the command's uid inside is not root,
			// it has no capabilities and, once set up, cannot make nested namespaces.
			"--unshare-all", "--unshare-user", "--disable-userns", "--uid", sandboxUID, "--gid", sandboxUID,
			"--cap-drop", "ALL",
		}
	}
	a = append(a,
		// No network: a network namespace with only its own loopback.
		"--hostname", "sandbox",
		// setsid: the command cannot reach the server's terminal (TIOCSTI).
		"--new-session",
		// SIGKILL to the command when bwrap or its parent (this process) dies.
		"--die-with-parent",
	)
	return a
}

// systemMounts are the read-only system, the masked paths, and a private /proc, /dev
// and /tmp.
func (r *Runner) systemMounts() []string {
	var a []string
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			if target, err := os.Readlink(d); err == nil {
				a = append(a, "--symlink", target, d)
			}
		case fi.IsDir():
			a = append(a, "--ro-bind", d, d)
		}
	}
	for _, p := range append(hiddenPaths, r.cfg.HidePaths...) {
		// Mask what the path resolves to: a symlink's target is what the command would read.
		real, err := filepath.EvalSymlinks(p)
		if err != nil || !underAny(real, systemDirs) {
			continue // absent, or not mounted in the sandbox anyway
		}
		fi, err := os.Stat(real)
		switch {
		case err != nil:
		case fi.IsDir():
			a = append(a, "--tmpfs", real, "--remount-ro", real)
		default:
			a = append(a, "--ro-bind", "/dev/null", real)
		}
	}
	size := strconv.FormatInt(r.cfg.TmpBytes, 10)
	a = append(a,
		"--proc", "/proc", // this PID namespace's processes only: no /proc/<server>/environ
		"--dev", "/dev", // null, zero, random, tty...; no host devices
		// /dev is an unbounded tmpfs: bound /dev/shm and make the rest read-only.
		"--perms", "1777", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
		"--perms", "1777", "--size", size, "--tmpfs", "/tmp",
		"--perms", "1777", "--dir", sandboxHome,
	)
	return a
}

// ancestors lists the directories above p, outermost first, without "/" and /tmp.
func ancestors(p string) []string {
	var out []string
	for d := filepath.Dir(filepath.Clean(p)); d != "/" && d != "."; d = filepath.Dir(d) {
		if d != "/tmp" {
			out = append(out, d)
		}
	}
	slices.Reverse(out)
	return out
}

// underAny reports whether p is one of dirs or below one of them.
func underAny(p string, dirs []string) bool {
	p = filepath.Clean(p)
	for _, d := range dirs {
		d = filepath.Clean(d)
		if p == d || strings.HasPrefix(p, d+"/") || d == "/" {
			return true
		}
	}
	return false
}
