package index

import (
	"path"
	"regexp"
	"strings"
)

// A project's layout says things about a file that its own path cannot: whether a
// public package has a file of the same name that an internal one copies, whether a
// sibling's name is a more general form of its own. They are computed from every
// indexed path, once per index generation (pathSet).

// pathKind is a set of layout facts about one path.
type pathKind uint8

const (
	// kindInternalCopy: a file of an internal package that a public package has too,
	// by name: crypto/internal/fips140/sha256/sha256.go beside crypto/sha256/sha256.go,
	// internal/sync/mutex.go beside sync/mutex.go. The public file is where a reader
	// starts; the internal one is its implementation.
	kindInternalCopy pathKind = 1 << iota
	// kindSibling: a file whose name extends a sibling's at an underscore
	// (zoneinfo_read.go beside zoneinfo.go, handshake_client_tls13.go beside
	// handshake_client.go, lookup_windows.go beside lookup.go): the sibling is the
	// general file, this one a part or a variant of it.
	kindSibling
	// kindPackageFile: the file named after its directory (image/png/png.go,
	// slices/slices.go; a major-version directory counts as its parent:
	// math/rand/v2/rand.go), which by convention holds the package's main API.
	kindPackageFile
)

// layoutKinds computes the layout facts of paths (a project's indexed files).
func layoutKinds(paths []string) map[string]pathKind {
	// public: file name → directories of the files of that name outside internal/.
	public := map[string][]string{}
	present := make(map[string]bool, len(paths))
	for _, p := range paths {
		present[p] = true
		if internalRoot(p) < 0 {
			dir, name := path.Split(p)
			public[name] = append(public[name], strings.TrimSuffix(dir, "/"))
		}
	}
	out := map[string]pathKind{}
	for _, p := range paths {
		var k pathKind
		if isInternalCopy(p, public) {
			k |= kindInternalCopy
		}
		if extendsSibling(p, present) {
			k |= kindSibling
		}
		if isPackageFile(p) {
			k |= kindPackageFile
		}
		if k != 0 {
			out[p] = k
		}
	}
	return out
}

// internalRoot is the byte offset of the "internal" directory in p (-1 when none): Go
// lets only the tree rooted at that directory's parent import what is under it.
func internalRoot(p string) int {
	dir := path.Dir(p)
	switch {
	case dir == "internal" || strings.HasPrefix(dir, "internal/"):
		return 0
	}
	if i := strings.Index(dir+"/", "/internal/"); i >= 0 {
		return i + 1
	}
	return -1
}

// isInternalCopy reports a file under internal/ whose name a public file has either in
// the tree the internal package serves (crypto/internal/boring/aes.go and
// crypto/aes/aes.go) or in a directory of the same name (internal/sync/mutex.go and
// sync/mutex.go). A top-level internal/ serves the whole project, where a common file
// name is no evidence of a copy, so there the directory must match.
func isInternalCopy(p string, public map[string][]string) bool {
	at := internalRoot(p)
	if at < 0 {
		return false
	}
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	tree := p[:at] // "crypto/" for crypto/internal/...; "" for a top-level internal/
	for _, d := range public[name] {
		if tree != "" && strings.HasPrefix(d+"/", tree) || path.Base(d) == path.Base(dir) {
			return true
		}
	}
	return false
}

// extendsSibling reports a file whose name, cut at one of its underscores, is another
// file of the same directory and extension (a _test file is never that other file).
func extendsSibling(p string, present map[string]bool) bool {
	dir, name := path.Split(p)
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := strings.IndexByte(stem, '_'); i > 0; i = nextUnderscore(stem, i) {
		if present[dir+stem[:i]+ext] {
			return true
		}
	}
	return false
}

func nextUnderscore(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '_')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// majorVersion is a module major-version directory (v2, v3, ...).
var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// isPackageFile reports the file named after its directory (compared in lower case,
// without '_' or '-'), a major-version directory standing for its parent.
func isPackageFile(p string) bool {
	dir := path.Dir(p)
	if majorVersion.MatchString(path.Base(dir)) {
		dir = path.Dir(dir)
	}
	if dir == "." || dir == "/" {
		return false
	}
	norm := strings.NewReplacer("_", "", "-", "")
	return norm.Replace(strings.ToLower(path.Base(dir))) == norm.Replace(fileStem(p))
}
