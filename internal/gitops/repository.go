package gitops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Errors a repository's resolution can be tested for with errors.Is.
var (
	// ErrRepoInvalid means a repo_url that is neither a git URL nor an absolute path.
	ErrRepoInvalid = errors.New("invalid repository")
	// ErrRepoForbidden means the policy does not let this user use the repository: a
	// local path outside the user's directory, or a remote on a non-public address.
	ErrRepoForbidden = errors.New("repository not allowed")
	// ErrRepoUnreachable means a remote that could not be resolved, connected to or
	// read. Its text is the same whatever the cause, so that it tells nothing about
	// the network behind the URL.
	ErrRepoUnreachable = errors.New("repository unreachable")
)

// unreachable is the one error every unreachable remote gets.
func unreachable(display string) error {
	return fmt.Errorf("%w: %s", ErrRepoUnreachable, display)
}

func forbidden(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRepoForbidden}, args...)...)
}

// Owner is the user a repository is resolved for: the project's owner.
type Owner struct {
	ID    uuid.UUID
	Admin bool
}

// Resolver looks host names up (net.DefaultResolver in production).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// RepoPolicy decides which repositories a user may have the server clone, read and
// push to, and how git reaches them.
//
// Local repositories (an absolute path or a file:// URL) must lie under one of
// LocalRoots, after every symbolic link is resolved. Below a root, a user who is not
// an administrator may use only their own directory, <root>/<user id>/…; an
// administrator may use any path below a root (an administrator "shares" a repository
// by registering it). Nobody may use a root itself, a path inside a .git directory or
// inside a bare repository's internals, or a repository whose git directory leads git
// elsewhere (a .git file, alternates, a common directory, a symbolic link out). With
// no LocalRoots, only administrators may use local repositories, anywhere.
//
// Remote repositories (https, http, ssh, git, or scp-like user@host:path) must
// resolve to public addresses only, unless AllowPrivateRemotes: no loopback,
// private, link-local, CGNAT, unspecified, multicast or reserved address. git is then
// pinned to the address checked (http.curloptResolve for HTTP, the address in the URL
// for git://, HostName for ssh), so a DNS answer that changes cannot redirect it.
type RepoPolicy struct {
	// LocalRoots are the directories local repositories may lie under.
	LocalRoots []string
	// AllowPrivateRemotes lets remotes resolve to any address (a self-hosted forge on
	// the private network, or a test's local server).
	AllowPrivateRemotes bool
	// GitHubToken authenticates git over HTTPS (and the pull requests the pipeline opens).
	GitHubToken string
	// Resolver looks host names up (default net.DefaultResolver).
	Resolver Resolver
	// LookupTimeout bounds a host name's lookup (default 5 seconds).
	LookupTimeout time.Duration
}

// Repository is a project's repository once a RepoPolicy has parsed it and allowed it
// for a user: where it is, how to show it, and how git reaches it. Get one from
// RepoPolicy.Resolve (or Check); the zero value is not usable.
type Repository struct {
	raw     string // as given, credentials included
	display string // without credentials
	local   bool   // a path or a file:// URL
	isPath  bool   // given as a path, not a URL
	path    string // local: the real path (symbolic links resolved)
	scheme  string // remote: https, http, ssh, git
	host    string // remote: the host name (no brackets)
	port    string // remote: the port, explicit or the scheme's default
	pin     netip.Addr
	token   string
	private bool // AllowPrivateRemotes: no pin, redirects as git's default
}

// String is the repository without credentials, for display, logs and errors.
func (r *Repository) String() string { return r.display }

// Local reports a repository on the server's disk (a path or a file:// URL).
func (r *Repository) Local() bool { return r.local }

// IsPath reports a repository given as a path rather than a URL.
func (r *Repository) IsPath() bool { return r.isPath }

// Path is a local repository's real path (every symbolic link resolved), "" for a remote.
func (r *Repository) Path() string { return r.path }

// GitHub returns the owner and name of the repository on GitHub (or a GitHub
// Enterprise host); a local path has none.
func (r *Repository) GitHub() (Repo, error) {
	if r.isPath {
		return Repo{}, fmt.Errorf("%w: %q is a local path", ErrNotRepoURL, r.display)
	}
	return ParseRepo(r.display)
}

// url is what git is given: the real path of a local repository, a remote's URL with
// its credentials, a git:// URL with the checked address in place of the host.
func (r *Repository) url() string {
	switch {
	case r.isPath:
		return r.path
	case r.local:
		return (&url.URL{Scheme: "file", Path: r.path}).String()
	case r.scheme == "git" && r.pin.IsValid():
		u, err := url.Parse(r.raw)
		if err != nil {
			return r.raw
		}
		u.Host = net.JoinHostPort(r.pin.String(), r.port)
		return u.String()
	}
	return r.raw
}

// Low-speed bounds for HTTP transfers: a remote that sends less than lowSpeedLimit
// bytes a second for lowSpeedTime seconds (connecting included) is given up on.
const (
	lowSpeedLimit = 1000
	lowSpeedTime  = 30
	sshTimeout    = 30 // seconds, ssh's ConnectTimeout and ServerAlive bound
)

// gitOptions returns what every git command that talks to the repository needs:
// options before the subcommand, environment (credentials included) and the strings
// to redact from errors.
func (r *Repository) gitOptions() (global, env, secrets []string) {
	if r.local {
		return nil, nil, nil
	}
	global = []string{
		"-c", "http.lowSpeedLimit=" + strconv.Itoa(lowSpeedLimit),
		"-c", "http.lowSpeedTime=" + strconv.Itoa(lowSpeedTime),
	}
	if !r.private {
		// A redirect would send git to a host nobody checked.
		global = append(global, "-c", "http.followRedirects=false")
	}
	if r.pin.IsValid() && (r.scheme == "https" || r.scheme == "http") {
		addr := r.pin.String()
		if r.pin.Is6() {
			addr = "[" + addr + "]"
		}
		global = append(global, "-c", "http.curloptResolve="+r.host+":"+r.port+":"+addr)
	}
	env, secrets = authEnv(r.raw, r.token)
	if u, err := url.Parse(r.raw); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p)
		}
	}
	if r.scheme == "ssh" && os.Getenv("GIT_SSH_COMMAND") == "" && os.Getenv("GIT_SSH") == "" {
		ssh := fmt.Sprintf("ssh -o BatchMode=yes -o ConnectTimeout=%d -o ServerAliveInterval=%d -o ServerAliveCountMax=2",
			sshTimeout, sshTimeout/2)
		if r.pin.IsValid() {
			// Connect to the checked address; check the host key under the name.
			ssh += " -o HostName=" + r.pin.String() + " -o HostKeyAlias=" + r.host
		}
		env = append(env, "GIT_SSH_COMMAND="+ssh)
	}
	return global, env, secrets
}

var (
	// scpLikeRE is git's user@host:path shorthand for ssh.
	scpLikeRE = regexp.MustCompile(`^([A-Za-z0-9._-]+)@(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([^\x00-\x1f\x7f]+)$`)
	// numericHostRE matches host names that inet_aton (and so curl and git) would
	// read as an IPv4 address: 127.1, 0x7f.1, 2130706433, 0177.0.0.1.
	numericHostRE = regexp.MustCompile(`^(0[xX][0-9A-Fa-f]*|[0-9]+)(\.(0[xX][0-9A-Fa-f]*|[0-9]+))*\.?$`)
)

// parse reads raw into a Repository without any policy: its kind, path or host.
func parse(raw string) (*Repository, error) {
	invalid := func(why string) error {
		return fmt.Errorf("%w: %s", ErrRepoInvalid, why)
	}
	if raw == "" {
		return nil, invalid("empty")
	}
	if strings.ContainsFunc(raw, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
		return nil, invalid("control characters")
	}
	r := &Repository{raw: raw, display: RedactURL(raw)}
	if filepath.IsAbs(raw) {
		r.local, r.isPath, r.path = true, true, filepath.Clean(raw)
		return r, nil
	}
	if m := scpLikeRE.FindStringSubmatch(raw); m != nil && !strings.Contains(raw, "://") {
		r.scheme, r.host, r.port = "ssh", strings.Trim(m[2], "[]"), "22"
		if strings.HasPrefix(m[3], "-") {
			return nil, invalid("the path cannot start with -")
		}
		return r, r.checkHost()
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return nil, invalid("must be a git URL (https://, ssh://, git://, file://), user@host:path, or an absolute local path")
	}
	switch r.scheme = strings.ToLower(u.Scheme); r.scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, invalid("a file:// URL cannot name a host")
		}
		if !filepath.IsAbs(u.Path) {
			return nil, invalid("a file:// URL must name an absolute path")
		}
		r.local, r.path, r.scheme = true, filepath.Clean(u.Path), ""
		r.display = "file://" + u.Path
		return r, nil
	case "https", "http", "ssh", "git":
	default:
		return nil, invalid(fmt.Sprintf("scheme %q is not supported; use https, http, ssh, git or file", u.Scheme))
	}
	r.host, r.port = u.Hostname(), u.Port()
	if r.port == "" {
		r.port = map[string]string{"https": "443", "http": "80", "ssh": "22", "git": "9418"}[r.scheme]
	}
	if n, err := strconv.Atoi(r.port); err != nil || n < 1 || n > 65535 {
		return nil, invalid("the port must be a number in 1-65535")
	}
	if strings.HasPrefix(u.Path, "/-") || strings.HasPrefix(u.User.Username(), "-") {
		return nil, invalid("the path and the user cannot start with -")
	}
	return r, r.checkHost()
}

func (r *Repository) checkHost() error {
	h := r.host
	if h == "" {
		return fmt.Errorf("%w: must name a host", ErrRepoInvalid)
	}
	if strings.HasPrefix(h, "-") || strings.Contains(h, "%") {
		return fmt.Errorf("%w: %q is not a host name", ErrRepoInvalid, h)
	}
	if _, err := netip.ParseAddr(h); err != nil && numericHostRE.MatchString(h) {
		return fmt.Errorf("%w: %q is a numeric address in a form git reads differently; write it as a.b.c.d", ErrRepoInvalid, h)
	}
	return nil
}

// Parse checks raw's syntax only: a git URL or an absolute path. Use Resolve or Check
// before giving it to git.
func Parse(raw string) error {
	_, err := parse(raw)
	return err
}

// Check is Resolve for a repository being registered: the same rules, except that
// a local path need not exist yet and a host name that does not resolve (now) is not
// refused. Resolve checks again, strictly, each time the repository is used.
func (p *RepoPolicy) Check(ctx context.Context, raw string, owner Owner) (*Repository, error) {
	return p.resolve(ctx, raw, owner, false)
}

// Resolve parses raw and applies the policy for owner: the repository to give git,
// or why not. It checks the file system and the network as they are now; call it
// again each time the repository is used.
func (p *RepoPolicy) Resolve(ctx context.Context, raw string, owner Owner) (*Repository, error) {
	return p.resolve(ctx, raw, owner, true)
}

func (p *RepoPolicy) resolve(ctx context.Context, raw string, owner Owner, strict bool) (*Repository, error) {
	r, err := parse(raw)
	if err != nil {
		return nil, err
	}
	r.token = p.GitHubToken
	if r.local {
		real, err := p.checkLocal(r.path, r.display, owner, strict)
		if err != nil {
			return nil, err
		}
		r.path = real
		return r, nil
	}
	if p.AllowPrivateRemotes {
		r.private = true
		return r, nil
	}
	addrs, err := p.lookup(ctx, r.host)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !strict {
			return r, nil
		}
		return nil, unreachable(r.display)
	}
	for _, a := range addrs {
		if !PublicAddr(a) {
			return nil, forbidden("%s resolves to a loopback, private or otherwise non-public address (set VIBECODER_ALLOW_PRIVATE_REMOTES=true to allow)", r.display)
		}
	}
	if _, err := netip.ParseAddr(r.host); err != nil {
		r.pin = addrs[0]
	}
	return r, nil
}

func (p *RepoPolicy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	res := p.Resolver
	if res == nil {
		res = net.DefaultResolver
	}
	timeout := p.LookupTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := res.LookupNetIP(lctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, errors.New("no address")
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

// nonPublic are the ranges, beyond netip's predicates, that are not the public
// Internet: "this network", CGNAT, IETF protocol assignments, documentation,
// benchmarking, reserved and broadcast; IPv4-compatible, discard-only, Teredo,
// documentation and deprecated site-local IPv6.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4",
		"::/96", "100::/64", "2001::/32", "2001:db8::/32", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	nat64l  = netip.MustParsePrefix("64:ff9b:1::/48")
	sixTo4  = netip.MustParsePrefix("2002::/16")
	ipv4All = netip.MustParsePrefix("0.0.0.0/0")
)

// PublicAddr reports whether a is an address of the public Internet: not loopback,
// private (RFC 1918, ULA fc00::/7), link-local, unspecified, multicast, CGNAT
// (100.64/10) or another reserved range; an IPv6 address that embeds an IPv4 one
// (NAT64, 6to4) is judged by the IPv4 address.
func PublicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.Zone() != "" || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return PublicAddr(netip.AddrFrom4([4]byte(b[12:16])))
		case nat64l.Contains(a):
			return false
		case sixTo4.Contains(a):
			return PublicAddr(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return a.Is6() || ipv4All.Contains(a)
}

// checkLocal applies the local-repository rules to path (shown as display) and
// returns its real path.
func (p *RepoPolicy) checkLocal(path, display string, owner Owner, strict bool) (string, error) {
	real, err := realPath(path, strict)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: %s does not exist", ErrRepoInvalid, display)
		}
		return "", fmt.Errorf("%w: %s: %v", ErrRepoInvalid, display, err)
	}
	if len(p.LocalRoots) == 0 {
		if !owner.Admin {
			return "", forbidden("only administrators may use local repositories unless VIBECODER_LOCAL_REPO_ROOTS allows them")
		}
		return real, checkInternals("", real, display, strict)
	}
	for _, root := range p.LocalRoots {
		rr, err := filepath.EvalSymlinks(root)
		if err != nil {
			rr = filepath.Clean(root)
		}
		rel, err := filepath.Rel(rr, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			continue
		}
		if rel == "." {
			return "", forbidden("%s is a root of VIBECODER_LOCAL_REPO_ROOTS; use a repository below it", display)
		}
		if !owner.Admin {
			own := owner.ID.String()
			first, _, _ := strings.Cut(rel, string(filepath.Separator))
			if owner.ID == uuid.Nil || first != own {
				return "", forbidden("%s is not in your directory of the local repository root (%s)",
					display, filepath.Join(root, own))
			}
		}
		return real, checkInternals(rr, real, display, strict)
	}
	return "", forbidden("%s is outside VIBECODER_LOCAL_REPO_ROOTS", display)
}

// realPath resolves every symbolic link of path. When it does not exist and strict
// is false, the longest existing prefix is resolved and the rest appended.
func realPath(path string, strict bool) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err == nil || strict || !errors.Is(err, fs.ErrNotExist) {
		return real, err
	}
	parent := filepath.Dir(path)
	if parent == path {
		return path, nil
	}
	rp, err := realPath(parent, false)
	if err != nil {
		return "", err
	}
	return filepath.Join(rp, filepath.Base(path)), nil
}

// checkInternals refuses a path inside a git directory (a .git directory, or a bare
// repository's objects, refs, hooks…) below root, and, when strict, a repository
// whose git directory would lead git out of it.
func checkInternals(root, real, display string, strict bool) error {
	inside := func() error {
		return forbidden("%s is inside a git directory; name the repository itself", display)
	}
	for _, part := range strings.Split(real, string(filepath.Separator)) {
		if strings.EqualFold(part, ".git") {
			return inside()
		}
	}
	// Every ancestor below the root (the root included) must not be a git directory.
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		if root != "" && !strings.HasPrefix(dir+string(filepath.Separator), root+string(filepath.Separator)) {
			break
		}
		if isGitDir(dir) {
			return inside()
		}
		if dir == filepath.Dir(dir) || dir == root {
			break
		}
	}
	if !strict {
		return nil
	}
	st, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRepoInvalid, display, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrRepoInvalid, display)
	}
	gitDir := real
	if !isGitDir(real) {
		gitDir = filepath.Join(real, ".git")
		fi, err := os.Lstat(gitDir)
		if err != nil {
			return nil // not a repository: the indexer walks it as plain files
		}
		if !fi.IsDir() {
			return forbidden("%s has a .git file or link (a worktree or submodule) that git would follow out of it", display)
		}
	}
	return checkGitDir(gitDir, display)
}

// isGitDir reports whether dir looks like a git directory to git: HEAD, objects/ and refs/.
func isGitDir(dir string) bool {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// maxGitDirEntries bounds the walk of a local repository's git directory.
const maxGitDirEntries = 500_000

// checkGitDir refuses a git directory that makes git read another repository: a
// common directory (a linked worktree), alternates, or a symbolic link.
func checkGitDir(gitDir, display string) error {
	for _, name := range []string{"commondir", "objects/info/alternates", "objects/info/http-alternates"} {
		if _, err := os.Lstat(filepath.Join(gitDir, name)); err == nil {
			return forbidden("%s borrows objects from another repository (%s), which git would read", display, name)
		}
	}
	n := 0
	err := filepath.WalkDir(gitDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n++; n > maxGitDirEntries {
			return forbidden("%s: its git directory has more than %d entries to check", display, maxGitDirEntries)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return forbidden("%s: its git directory holds a symbolic link (%s), which git would follow", display, filepath.Base(p))
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrRepoForbidden) {
		return fmt.Errorf("%w: %s: %v", ErrRepoInvalid, display, err)
	}
	return err
}
