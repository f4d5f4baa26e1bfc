package index

import (
	"strings"
	"testing"

	"github.com/vibecoder/vibecoder/internal/store"
)

// The layout facts come from the project's other paths: an internal copy needs the
// public file, a sibling the file its name extends, a package file its directory's name.
func TestLayoutKinds(t *testing.T) {
	paths := []string{
		"crypto/sha256/sha256.go",
		"crypto/internal/fips140/sha256/sha256.go", // copy: same name in the tree it serves
		"crypto/internal/boring/aes.go",            // copy: crypto/aes/aes.go
		"crypto/aes/aes.go",
		"crypto/internal/fips140/bigmod/nat.go", // no public nat.go under crypto/
		"math/big/nat.go",
		"internal/sync/mutex.go", // copy: a public directory of the same name has it
		"sync/mutex.go",
		"internal/runtime/maps/map.go", // top-level internal/: another directory's map.go is no evidence
		"sync/map.go",
		"time/zoneinfo.go",
		"time/zoneinfo_read.go", // extends zoneinfo.go
		"time/zoneinfo_test.go",
		"time/format_rfc3339.go", // format.go is not there
		"math/rand/v2/rand.go",   // package file of a major version
		"image/png/reader.go",
		"net/http/httputil/http_util.go",
		"main.go",
	}
	want := map[string]pathKind{
		"crypto/sha256/sha256.go":                  kindPackageFile,
		"crypto/internal/fips140/sha256/sha256.go": kindInternalCopy | kindPackageFile,
		"crypto/internal/boring/aes.go":            kindInternalCopy,
		"crypto/aes/aes.go":                        kindPackageFile,
		"internal/sync/mutex.go":                   kindInternalCopy,
		"time/zoneinfo_read.go":                    kindSibling,
		"time/zoneinfo_test.go":                    kindSibling,
		"math/rand/v2/rand.go":                     kindPackageFile,
		"net/http/httputil/http_util.go":           kindPackageFile,
	}
	got := layoutKinds(paths)
	for _, p := range paths {
		if got[p] != want[p] {
			t.Errorf("layoutKinds[%q] = %b, want %b", p, got[p], want[p])
		}
	}
}

// The layout priors order a public file before its internal copy, a general file
// before its variant, and the package's file before its other files.
func TestLayoutPriors(t *testing.T) {
	for _, tc := range []struct {
		path string
		kind pathKind
		want float64
	}{
		{"crypto/sha256/sha256.go", kindPackageFile, packageFilePrior},
		{"crypto/internal/fips140/sha256/sha256.go", kindInternalCopy | kindPackageFile, packageFilePrior * internalCopyPrior},
		{"internal/sync/mutex.go", kindInternalCopy, internalCopyPrior},
		{"time/zoneinfo_read.go", kindSibling, variantPrior},
		{"go/doc/doc.go", kindPackageFile, packageFilePrior},    // package doc's own code, not a doc.go
		{"errors/errors.go", kindPackageFile, packageFilePrior}, // the errors package's own code
		{"image/png/png_test.go", kindSibling, testPrior},
		{"internal/strconv/atoi.go", kindPackageFile, packageFilePrior * internalPrior},
		{"cmd/compile/internal/walk/walk.go", kindPackageFile, packageFilePrior * internalPrior},
		{"net/http/internal/chunked.go", 0, internalPrior},
		{"internalize/x.go", 0, 1},
	} {
		if got := pathPrior(tc.path, false, tc.kind); got != tc.want {
			t.Errorf("pathPrior(%q, %b) = %v, want %v", tc.path, tc.kind, got, tc.want)
		}
	}
	if !(internalCopyPrior < internalPrior && internalPrior < 1 && variantPrior < 1 && packageFilePrior > 1) {
		t.Errorf("priors: internal copy %v, variant %v, package file %v", internalCopyPrior, variantPrior, packageFilePrior)
	}
}

// A package's doc comment is a field of every chunk in its directory, and a file's
// comment of every chunk of the file: a chunk that never says "png" still meets "decode
// a png image" through its package's doc.
func TestDocFields(t *testing.T) {
	docs := newPackageDocs([]store.Chunk{
		{Path: "image/png/png.go", Symbol: "package png", Content: "// Package png implements a PNG image decoder and encoder.\n//\n" +
			"// The PNG specification is at https://www.w3.org/TR/PNG/.\npackage png\n"},
		{Path: "image/gif/reader.go", Symbol: "package gif", Content: "/*\nPackage gif implements a GIF image decoder.\n*/\npackage gif\n"},
		{Path: "image/png/png_test.go", Symbol: "package png", Content: "// Package png tests decoding a png image.\npackage png\n"},
		{Path: "image/png/paeth.go", Symbol: "package png", Content: "// Paeth filter of scanlines.\n\n//go:build ignore\n\npackage png\n"},
	})
	var pkgs, files []string
	for _, f := range docs.packages.fields {
		pkgs = append(pkgs, f.key+": "+f.text)
	}
	for _, f := range docs.files.fields {
		files = append(files, f.key+": "+f.text)
	}
	if len(pkgs) != 2 || !strings.HasPrefix(pkgs[0], "image/png: package packag png implements") || strings.Contains(pkgs[0], "specification") ||
		!strings.HasPrefix(pkgs[1], "image/gif: package packag gif") {
		t.Errorf("package docs (tests skipped, first paragraph only): %q", pkgs)
	}
	if len(files) != 1 || files[0] != "image/png/paeth.go: paeth filter filt of scanlines scanlin" {
		t.Errorf("file comments: %q", files)
	}
	q := parseQuery("decode a png image")
	stats := statsOf(SearchText("Decode", "image/png/reader.go", "func Decode() {}"), SearchText("", "a/b.go", "x"))
	sc := newScorer(q, stats)
	pkg, _, top := docs.scores(sc)
	png, gif := pkg["image/png"], pkg["image/gif"]
	if len(png) != 3 || png[1] <= 0 || png[2] <= 0 || len(gif) != 3 || gif[1] != 0 || gif[2] <= 0 {
		t.Errorf("doc field scores: png %v, gif %v", png, gif)
	}
	if len(top) != 2 || top[0] != "image/png/png.go" {
		t.Errorf("best packages' doc files = %v, want image/png/png.go first", top)
	}
	_, file, top := docs.scores(newScorer(parseQuery("scanline filters"), stats))
	if len(file["image/png/paeth.go"]) != 2 || file["image/png/paeth.go"][1] <= 0 || len(top) != 1 {
		t.Errorf("file comment scores %v, files %v", file, top)
	}
	if pkgDocWeight <= 0 || fileDocWeight <= 0 {
		t.Errorf("doc field weights %v, %v", pkgDocWeight, fileDocWeight)
	}
}
