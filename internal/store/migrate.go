package store

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

// Migration is one numbered schema change of a dialect, read from the file
// NNNN_name.sql. Each dialect applies its migrations in Version order, each in its
// own transaction, and records Version and Name in schema_migrations.
type Migration struct {
	Version int    // the file's number: 1 for 0001_init.sql
	Name    string // the file name, e.g. 0001_init.sql
	SQL     string
}

// migrationName is NNNN_name.sql: a number, an underscore, a name, ".sql".
var migrationName = regexp.MustCompile(`^([0-9]+)_[A-Za-z0-9_.-]+\.sql$`)

// LoadMigrations reads the migrations in dir of fsys (a dialect's embedded
// migrations/ directory) and returns them in version order. Every entry must be a
// file named NNNN_name.sql, and the versions must run 1, 2, 3, … with no repeat and no
// gap: a repeated version would be applied once and its twin skipped for good, and a
// gap usually means a file lost in a merge. Both dialects load through it, so their
// loaders cannot drift apart again.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	out := make([]Migration, 0, len(entries))
	seen := make(map[int]string, len(entries))
	for _, e := range entries {
		name := e.Name()
		m := migrationName.FindStringSubmatch(name)
		if m == nil || e.IsDir() {
			return nil, fmt.Errorf("migration %q: want a file named NNNN_name.sql", name)
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %q: version must be a positive number", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %q: version %d, want %d (versions run from 1 without gaps)", m.Name, m.Version, i+1)
		}
	}
	return out, nil
}
