package gitops

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestParseRepository(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		"https://github.com/a/b.git":      "remote",
		"http://git.example.com:8080/a/b": "remote",
		"ssh://git@github.com:22/a/b":     "remote",
		"git://git.example.com/a/b":       "remote",
		"git@github.com:a/b.git":          "remote",
		"git@[2001:4860::1]:a/b.git":      "remote",
		"/home/me/project":                "path",
		"file:///srv/a.git":               "file",
		"file://localhost/srv/a.git":      "file",
		"project":                         "invalid",
		"./a@b:c":                         "invalid",
		"javascript:alert(1)":             "invalid",
		"ftp://host/a":                    "invalid",
		"ext::sh -c touch% /tmp/pwned":    "invalid",
		"file://otherhost/srv/a":          "invalid",
		"file://relative":                 "invalid",
		"https:///nohost":                 "invalid",
		"ssh://-oProxyCommand=x/a":        "invalid",
		"git@host:-upload-pack=x":         "invalid",
		"https://host:99999/a":            "invalid",
		"http://127.1/a.git":              "invalid", // inet_aton reads it as 127.0.0.1
		"http://0x7f000001/a.git":         "invalid",
		"http://2130706433/a.git":         "invalid",
		"https://github.com/a/b\n.git":    "invalid",
		"":                                "invalid",
	} {
		r, err := parse(raw)
		got := "invalid"
		switch {
		case err != nil:
			if !errors.Is(err, ErrRepoInvalid) {
				t.Errorf("parse(%q) err = %v, want ErrRepoInvalid", raw, err)
			}
		case r.isPath:
			got = "path"
		case r.local:
			got = "file"
		default:
			got = "remote"
		}
		if got != want {
			t.Errorf("parse(%q) = %s (%v), want %s", raw, got, err, want)
		}
	}
}

// localFixture is a root with two users' directories, each holding a repository, a
// bare repository of the first user's, and the ids.
type localFixture struct {
	root, aRepo, aBare, bDir string
	a, b                     uuid.UUID
}

func newLocalFixture(t *testing.T) localFixture {
	t.Helper()
	f := localFixture{root: t.TempDir(), a: uuid.New(), b: uuid.New()}
	f.aRepo = fixtureRepo(t, filepath.Join(f.root, f.a.String(), "repo"))
	f.aBare = bareRemote(t, f.aRepo, filepath.Join(f.root, f.a.String(), "repo-bare.git"))
	f.bDir = filepath.Join(f.root, f.b.String())
	fixtureRepo(t, filepath.Join(f.bDir, "mine"))
	return f
}

// Local repositories belong to someone: a user may use their own directory of a root
// only, an administrator anything below a root, nobody the root itself or a git
// directory's insides; symbolic links are resolved first.
func TestLocalOwnership(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newLocalFixture(t)
	pol := &RepoPolicy{LocalRoots: []string{f.root}}
	userA, userB := Owner{ID: f.a}, Owner{ID: f.b}
	admin := Owner{ID: uuid.New(), Admin: true}
	link := filepath.Join(f.bDir, "link-to-a")
	if err := os.Symlink(f.aRepo, link); err != nil {
		t.Fatal(err)
	}
	outside := fixtureRepo(t, filepath.Join(t.TempDir(), "outside"))

	for _, tc := range []struct {
		name  string
		raw   string
		owner Owner
		ok    bool
	}{
		{"own repository", f.aRepo, userA, true},
		{"own repository as file URL", "file://" + f.aBare, userA, true},
		{"own new repository (registration)", filepath.Join(f.bDir, "later"), userB, true},
		{"B uses A's repository", f.aRepo, userB, false},
		{"B uses A's bare repository by URL", "file://" + f.aBare, userB, false},
		{"B uses the root", f.root, userB, false},
		{"B uses A's directory", filepath.Join(f.root, f.a.String()), userB, false},
		{"B uses A's .git", filepath.Join(f.aRepo, ".git"), userB, false},
		{"A uses its own .git", filepath.Join(f.aRepo, ".git"), userA, false},
		{"A uses its bare repository's objects", filepath.Join(f.aBare, "objects"), userA, false},
		{"B's symlink to A's repository", link, userB, false},
		{"B climbs out with ..", filepath.Join(f.bDir, "..", f.a.String(), "repo"), userB, false},
		{"outside the roots", outside, userA, false},
		{"outside the roots, admin", outside, admin, false},
		{"/etc", "/etc", userA, false},
		{"admin uses A's repository", f.aRepo, admin, true},
		{"admin uses the root", f.root, admin, false},
		{"admin uses A's .git", filepath.Join(f.aRepo, ".git"), admin, false},
		{"no user id", filepath.Join(f.root, uuid.Nil.String(), "x"), Owner{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pol.Check(ctx, tc.raw, tc.owner)
			if tc.ok != (err == nil) {
				t.Fatalf("Check(%s) = %v, want allowed=%v", tc.raw, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrRepoForbidden) {
				t.Errorf("err = %v, want ErrRepoForbidden", err)
			}
			if tc.ok && tc.name != "own new repository (registration)" {
				r, err := pol.Resolve(ctx, tc.raw, tc.owner)
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if !r.Local() || r.Path() == "" {
					t.Errorf("repository = %+v", r)
				}
			}
		})
	}

	// Without roots, only administrators, anywhere but inside a git directory.
	none := &RepoPolicy{}
	if _, err := none.Check(ctx, outside, userA); !errors.Is(err, ErrRepoForbidden) {
		t.Errorf("a user's local repository with no roots: %v", err)
	}
	if _, err := none.Resolve(ctx, outside, admin); err != nil {
		t.Errorf("an administrator's local repository with no roots: %v", err)
	}
}

// The file system changes after registration: the use-time check sees it.
func TestLocalCheckedAtUse(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newLocalFixture(t)
	pol := &RepoPolicy{LocalRoots: []string{f.root}}
	userB := Owner{ID: f.b}
	later := filepath.Join(f.bDir, "later")
	if _, err := pol.Check(ctx, later, userB); err != nil {
		t.Fatal(err)
	}
	if _, err := pol.Resolve(ctx, later, userB); !errors.Is(err, ErrRepoInvalid) {
		t.Errorf("a registered path that does not exist yet: %v", err)
	}
	// B replaces the registered path with a link to A's repository.
	if err := os.Symlink(f.aRepo, later); err != nil {
		t.Fatal(err)
	}
	if _, err := pol.Resolve(ctx, later, userB); !errors.Is(err, ErrRepoForbidden) {
		t.Errorf("a link to A's repository at use time: %v", err)
	}

	// B's own repository that leads git into A's: a .git file, alternates, a common
	// directory, a link inside its git directory.
	mine := filepath.Join(f.bDir, "mine")
	if _, err := pol.Resolve(ctx, mine, userB); err != nil {
		t.Fatalf("B's own repository: %v", err)
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, repo string)
	}{
		{"gitfile", func(t *testing.T, repo string) {
			writeFile(t, filepath.Join(repo, ".git"), "gitdir: "+filepath.Join(f.aRepo, ".git")+"\n")
		}},
		{"alternates", func(t *testing.T, repo string) {
			writeFile(t, filepath.Join(repo, ".git", "objects", "info", "alternates"), filepath.Join(f.aRepo, ".git", "objects")+"\n")
		}},
		{"commondir", func(t *testing.T, repo string) {
			writeFile(t, filepath.Join(repo, ".git", "commondir"), filepath.Join(f.aRepo, ".git")+"\n")
		}},
		{"link in the git directory", func(t *testing.T, repo string) {
			if err := os.Symlink(filepath.Join(f.aRepo, ".git", "refs"), filepath.Join(repo, ".git", "refs", "stolen")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := fixtureRepo(t, filepath.Join(f.bDir, tc.name))
			if tc.name == "gitfile" {
				if err := os.RemoveAll(filepath.Join(repo, ".git")); err != nil {
					t.Fatal(err)
				}
			}
			tc.plant(t, repo)
			if _, err := pol.Resolve(ctx, repo, userB); !errors.Is(err, ErrRepoForbidden) {
				t.Errorf("Resolve = %v, want ErrRepoForbidden", err)
			}
		})
	}
}

// fakeResolver answers every name with the same addresses.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// Remotes cannot reach the host's network: a remote on a non-public address is
// refused, with the same text at registration and at use; with AllowPrivateRemotes it
// is allowed.
func TestPrivateRemotesRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	owner := Owner{ID: uuid.New()}
	res := fakeResolver{
		"github.com":       {netip.MustParseAddr("140.82.112.3")},
		"rebind.test":      {netip.MustParseAddr("140.82.112.3"), netip.MustParseAddr("10.1.2.3")},
		"metadata.test":    {netip.MustParseAddr("169.254.169.254")},
		"nat64-local.test": {netip.MustParseAddr("64:ff9b::7f00:1")},
		"nat64-ok.test":    {netip.MustParseAddr("64:ff9b::8c52:7003")},
	}
	strict := &RepoPolicy{Resolver: res}
	for _, raw := range []string{
		"http://127.0.0.1:6379/x.git", "git://127.0.0.1:5432/x", "http://[::1]/", "http://169.254.169.254/",
		"http://10.0.0.1/", "https://localhost/a/b.git", "ssh://git@192.168.1.1/a/b", "git@172.16.0.1:a/b.git",
		"https://100.64.0.1/a", "https://[fd00::1]/a", "https://[::ffff:127.0.0.1]/a", "https://0.0.0.0/a",
		"https://224.0.0.1/a", "https://[fe80::1]/a", "https://rebind.test/a", "https://metadata.test/a",
		"https://nat64-local.test/a", "https://[2002:7f00:1::1]/a",
	} {
		p := strict
		if strings.Contains(raw, "localhost") {
			p = &RepoPolicy{} // the real resolver: localhost is 127.0.0.1 or ::1
		}
		_, regErr := p.Check(ctx, raw, owner)
		_, useErr := p.Resolve(ctx, raw, owner)
		if !errors.Is(regErr, ErrRepoForbidden) || !errors.Is(useErr, ErrRepoForbidden) {
			t.Errorf("%s: Check = %v, Resolve = %v; want ErrRepoForbidden", raw, regErr, useErr)
			continue
		}
		if regErr.Error() != useErr.Error() {
			t.Errorf("%s: registration says %q, use %q", raw, regErr, useErr)
		}
		open := &RepoPolicy{AllowPrivateRemotes: true, Resolver: res}
		if _, err := open.Resolve(ctx, raw, owner); err != nil {
			t.Errorf("%s with AllowPrivateRemotes: %v", raw, err)
		}
	}
	for _, raw := range []string{"https://github.com/a/b.git", "git@github.com:a/b.git", "https://nat64-ok.test/a", "https://140.82.112.3/a"} {
		if _, err := strict.Resolve(ctx, raw, owner); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
	// A name that does not resolve: accepted at registration, unreachable at use.
	if _, err := strict.Check(ctx, "https://nowhere.test/a", owner); err != nil {
		t.Errorf("registration of an unresolvable name: %v", err)
	}
	if _, err := strict.Resolve(ctx, "https://nowhere.test/a", owner); !errors.Is(err, ErrRepoUnreachable) ||
		err.Error() != "repository unreachable: https://nowhere.test/a" {
		t.Errorf("use of an unresolvable name: %v", err)
	}
}

// git is pinned to the address the policy checked.
func TestRemotePinned(t *testing.T) {
	t.Parallel()
	res := fakeResolver{"git.test": {netip.MustParseAddr("140.82.112.3")}, "v6.test": {netip.MustParseAddr("2606:4700::1")}}
	p := &RepoPolicy{Resolver: res, GitHubToken: "tok"}
	for raw, want := range map[string]string{
		"https://git.test/a/b.git":   "http.curloptResolve=git.test:443:140.82.112.3",
		"http://git.test:8080/a":     "http.curloptResolve=git.test:8080:140.82.112.3",
		"https://v6.test/a":          "http.curloptResolve=v6.test:443:[2606:4700::1]",
		"git://git.test/a":           "git://140.82.112.3:9418/a",
		"ssh://git@git.test/a/b.git": "HostName=140.82.112.3 -o HostKeyAlias=git.test",
	} {
		r, err := p.Resolve(t.Context(), raw, Owner{ID: uuid.New()})
		if err != nil {
			t.Fatal(err)
		}
		global, env, _ := r.gitOptions()
		all := strings.Join(append(append(global, env...), r.url()), " ")
		if os.Getenv("GIT_SSH_COMMAND") != "" && strings.HasPrefix(raw, "ssh") {
			continue
		}
		if !strings.Contains(all, want) {
			t.Errorf("%s: git gets %q, want %q in it", raw, all, want)
		}
		if !strings.Contains(all, "http.followRedirects=false") || !strings.Contains(all, "http.lowSpeedTime=") {
			t.Errorf("%s: no redirect or speed bound: %q", raw, all)
		}
	}
}

// An unreachable remote's error is the same whatever refused it: a closed port, a
// port that speaks another protocol, a port that never answers.
func TestUnreachableSameError(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	w, err := NewWorkspaces(nil, Config{NetworkTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	garbage := listen(t, func(c net.Conn) { c.Write([]byte("-ERR unknown command\r\n")); c.Close() })
	silent := listen(t, func(c net.Conn) { time.Sleep(10 * time.Second); c.Close() })
	pol := &RepoPolicy{AllowPrivateRemotes: true}
	var texts []string
	for _, addr := range []string{closedAddr, garbage, silent} {
		for _, scheme := range []string{"http", "git"} {
			raw := scheme + "://" + addr + "/x.git"
			r, err := pol.Resolve(ctx, raw, Owner{Admin: true})
			if err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			_, err = w.Create(ctx, r, "main", filepath.Join(tmp, "ws"))
			if !errors.Is(err, ErrRepoUnreachable) {
				t.Fatalf("%s: %v, want ErrRepoUnreachable", raw, err)
			}
			// The text names the repository and nothing else.
			texts = append(texts, strings.ReplaceAll(strings.ReplaceAll(err.Error(), addr, "ADDR"), scheme+"://", ""))
			if err := w.Sync(ctx, r, "main", filepath.Join(tmp, "sync"), 0); !errors.Is(err, ErrRepoUnreachable) ||
				!strings.HasSuffix(err.Error(), "repository unreachable: "+raw) {
				t.Fatalf("Sync %s: %v", raw, err)
			}
		}
	}
	for _, s := range texts[1:] {
		if s != texts[0] {
			t.Fatalf("errors differ: %q", texts)
		}
	}
}

func listen(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"140.82.112.3": true, "8.8.8.8": true, "2606:4700::1": true, "64:ff9b::808:808": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.31.255.255": false, "192.168.0.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "255.255.255.255": false, "224.0.0.251": false, "192.0.2.1": false,
		"::1": false, "::": false, "fc00::1": false, "fd12::1": false, "fe80::1": false, "ff02::1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "2002:a00:1::1": false, "2001:db8::1": false, "::7f00:1": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}
