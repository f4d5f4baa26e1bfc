package store

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	t.Run("in version order", func(t *testing.T) {
		fsys := fstest.MapFS{
			"m/0010_ten.sql":   file("ten"),
			"m/0002_two.sql":   file("two"),
			"m/0001_init.sql":  file("one"),
			"m/0003_three.sql": file("three"),
			"m/4_four.sql":     file("four"),
			"m/0005_a.b-c.sql": file("five"),
			"m/0006_six.sql":   file("six"),
			"m/0007_x.sql":     file("seven"),
			"m/0008_x.sql":     file("eight"),
			"m/0009_x.sql":     file("nine"),
		}
		got, err := LoadMigrations(fsys, "m")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 10 {
			t.Fatalf("got %d migrations, want 10", len(got))
		}
		for i, m := range got {
			if m.Version != i+1 {
				t.Errorf("migration %d has version %d", i, m.Version)
			}
		}
		if got[0] != (Migration{Version: 1, Name: "0001_init.sql", SQL: "one"}) || got[9].Name != "0010_ten.sql" {
			t.Errorf("got %+v ... %+v", got[0], got[9])
		}
	})
	for _, c := range []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"duplicate version", fstest.MapFS{"m/0001_a.sql": file(""), "m/0002_b.sql": file(""), "m/002_c.sql": file("")},
			`migrations "0002_b.sql" and "002_c.sql" share version 2`},
		{"gap", fstest.MapFS{"m/0001_a.sql": file(""), "m/0003_c.sql": file("")}, `"0003_c.sql": version 3, want 2`},
		{"not from one", fstest.MapFS{"m/0002_b.sql": file("")}, `version 2, want 1`},
		{"version zero", fstest.MapFS{"m/0000_a.sql": file("")}, "positive"},
		{"no number", fstest.MapFS{"m/init.sql": file("")}, `"init.sql": want a file named NNNN_name.sql`},
		{"no name", fstest.MapFS{"m/0001_.sql": file("")}, "NNNN_name.sql"},
		{"no underscore", fstest.MapFS{"m/0001init.sql": file("")}, "NNNN_name.sql"},
		{"not .sql", fstest.MapFS{"m/0001_init.sql": file(""), "m/0002_notes.txt": file("")}, `"0002_notes.txt"`},
		{"a directory", fstest.MapFS{"m/0001_init.sql/x": file("")}, "NNNN_name.sql"},
		{"huge number", fstest.MapFS{"m/99999999999999999999_a.sql": file("")}, "positive"},
		{"no directory", fstest.MapFS{}, "read migrations"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := LoadMigrations(c.fsys, "m")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadMigrations = %v, %v; want an error containing %q", got, err, c.want)
			}
		})
	}
}

// TestDialectMigrations loads each dialect's own migrations, the files the dialects
// embed, through the one loader.
func TestDialectMigrations(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			migs, err := LoadMigrations(os.DirFS(dialect), "migrations")
			if err != nil {
				t.Fatal(err)
			}
			if len(migs) == 0 || migs[0].Name != "0001_init.sql" || migs[0].SQL == "" {
				t.Fatalf("got %d migrations, first %+v", len(migs), migs[0])
			}
		})
	}
}
