package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/vibecoder/vibecoder/internal/store"
)

// a11yFixture is a server with one owner who has a project, a task, an execution and
// a month of LLM usage, so every page renders its full markup (charts included).
type a11yFixture struct {
	srv           *httptest.Server
	owner         *browser
	pid, tid, xid string
}

func newA11yFixture(t *testing.T) a11yFixture {
	t.Helper()
	a, srv := newAppServer(t)
	owner := newBrowser(t, srv)
	owner.signup("owner@example.com")
	pid := owner.api("POST", "/api/v1/projects", map[string]string{"name": "Demo", "repo_url": "https://example.com/demo.git"})["id"].(string)
	tid := owner.api("POST", "/api/v1/projects/"+pid+"/tasks", map[string]string{"title": "Add a README"})["id"].(string)
	xid := owner.api("POST", "/api/v1/tasks/"+tid+"/run", nil)["id"].(string)
	owner.api("POST", "/api/v1/apikeys", map[string]string{"name": "laptop"})
	uid := uuid.MustParse(owner.api("GET", "/api/v1/me", nil)["id"].(string))
	now := time.Now().UTC()
	if err := a.Store.InsertUsage(t.Context(), []store.LLMUsage{
		{UserID: uid, Provider: "openai", Model: "gpt-4o-mini", PromptTokens: 100, CompletionTokens: 50, CostUSD: 0.5, CreatedAt: now.Add(-48 * time.Hour)},
		{UserID: uid, Provider: "anthropic", Model: "claude-haiku", PromptTokens: 10, CompletionTokens: 5, CostUSD: 0.25, CreatedAt: now},
	}); err != nil {
		t.Fatal(err)
	}
	return a11yFixture{srv: srv, owner: owner, pid: pid, tid: tid, xid: xid}
}

// TestPagesAccessible checks every dashboard page, as rendered for a signed-in owner
// and signed out, for the markup assistive technology relies on: a language, a
// title, one main landmark, a label for every form control, a name for every link,
// button and chart, alt text on images, unique ids and no positive tabindex. What
// the page's script adds later is covered by TestBrowserAccessibility.
func TestPagesAccessible(t *testing.T) {
	f := newA11yFixture(t)
	anon := newBrowser(t, f.srv)

	type rendered struct {
		name string
		p    page
	}
	var pages []rendered
	for _, path := range []string{"/projects", "/projects/" + f.pid, "/tasks/" + f.tid, "/executions/" + f.xid, "/keys", "/system", "/usage", "/projects/not-a-uuid"} {
		pages = append(pages, rendered{"owner " + path, f.owner.get(path)})
	}
	empty := newBrowser(t, f.srv) // usage without any calls: the no-chart variant
	empty.signup("empty@example.com")
	pages = append(pages, rendered{"owner without usage /usage", empty.get("/usage")})
	for _, path := range []string{"/login", "/login?next=/keys", "/signup"} {
		pages = append(pages, rendered{"signed out " + path, anon.get(path)})
	}
	// The forms again, showing an error.
	tok := formToken(t, anon.get("/login"))
	pages = append(pages, rendered{"signed out /login (wrong password)",
		anon.post("/login", url.Values{"csrf_token": {tok}, "email": {"owner@example.com"}, "password": {"wrong password"}})})
	tok = formToken(t, anon.get("/signup"))
	pages = append(pages, rendered{"signed out /signup (taken email)",
		anon.post("/signup", url.Values{"csrf_token": {tok}, "email": {"owner@example.com"}, "password": {"correct horse battery"}})})

	sawChart := false
	for _, r := range pages {
		t.Run(r.name, func(t *testing.T) {
			if r.p.status >= 300 && r.p.status != http.StatusNotFound && r.p.status != http.StatusUnauthorized && r.p.status != http.StatusConflict {
				t.Fatalf("status %d:\n%s", r.p.status, r.p.body)
			}
			if len(r.p.body) > 100<<10 {
				t.Errorf("page is %d bytes, over 100 KB", len(r.p.body))
			}
			doc, err := html.Parse(strings.NewReader(r.p.body))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			for _, problem := range a11yProblems(doc) {
				t.Error(problem)
			}
			if strings.Contains(r.p.body, "<svg") {
				sawChart = true
			}
		})
	}
	if !sawChart {
		t.Error("no page rendered a chart, so the chart checks did not run")
	}
}

// a11yProblems lists what is wrong with doc, one line per problem.
func a11yProblems(doc *html.Node) []string {
	var problems []string
	bad := func(n *html.Node, format string, args ...any) {
		problems = append(problems, describe(n)+": "+fmt.Sprintf(format, args...))
	}
	var all []*html.Node
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode {
			all = append(all, n)
		}
	}
	ids := map[string]*html.Node{}
	labelFor := map[string]bool{}
	for _, n := range all {
		if id, ok := attr(n, "id"); ok {
			if ids[id] != nil {
				bad(n, "duplicate id %q", id)
			}
			ids[id] = n
		}
		if n.DataAtom == atom.Label {
			if id, ok := attr(n, "for"); ok {
				labelFor[id] = true
			}
		}
	}
	count := func(a atom.Atom) (c int) {
		for _, n := range all {
			if n.DataAtom == a && n.Namespace == "" {
				c++
			}
		}
		return c
	}
	for _, n := range all {
		if n.DataAtom == atom.Html {
			if lang, _ := attr(n, "lang"); strings.TrimSpace(lang) == "" {
				bad(n, "no lang")
			}
		}
	}
	if count(atom.Title) == 0 {
		problems = append(problems, "no <title>")
	} else {
		for _, n := range all {
			if n.DataAtom == atom.Title && n.Namespace == "" && textOf(n) == "" {
				bad(n, "empty <title>")
			}
		}
	}
	if c := count(atom.Main); c != 1 {
		problems = append(problems, fmt.Sprintf("%d <main> elements, want 1", c))
	}
	// labelledBy resolves aria-labelledby to the text of the elements it names.
	labelledBy := func(n *html.Node) (string, bool) {
		refs, ok := attr(n, "aria-labelledby")
		if !ok {
			return "", false
		}
		var text []string
		for _, id := range strings.Fields(refs) {
			target := ids[id]
			if target == nil {
				bad(n, "aria-labelledby names %q, which is not on the page", id)
				continue
			}
			text = append(text, textOf(target))
		}
		return strings.TrimSpace(strings.Join(text, " ")), true
	}
	ariaName := func(n *html.Node) string {
		if s, ok := labelledBy(n); ok && s != "" {
			return s
		}
		s, _ := attr(n, "aria-label")
		return strings.TrimSpace(s)
	}
	for _, n := range all {
		if tab, ok := attr(n, "tabindex"); ok && strings.TrimSpace(tab) != "" && !strings.HasPrefix(strings.TrimSpace(tab), "-") && strings.TrimSpace(tab) != "0" {
			bad(n, "positive tabindex %s", tab)
		}
		switch {
		case n.Namespace == "svg" && n.DataAtom == atom.Svg:
			if role, _ := attr(n, "role"); role != "img" {
				bad(n, "chart without role=\"img\"")
			}
			name := ariaName(n)
			for c := n.FirstChild; c != nil && name == ""; c = c.NextSibling {
				if c.Type == html.ElementNode && c.Data == "title" {
					name = textOf(c)
				}
			}
			if name == "" {
				bad(n, "chart without a name (a <title> or aria-label)")
			}
			// role="img" hides the bars' own titles from assistive technology, so
			// the numbers must also be in a table beside the chart.
			hasTable := false
			for d := range n.Parent.Descendants() {
				hasTable = hasTable || (d.Type == html.ElementNode && d.DataAtom == atom.Table)
			}
			if !hasTable {
				bad(n, "chart without a table of its values beside it")
			}
		case n.Namespace != "":
		case n.DataAtom == atom.Img:
			if _, ok := attr(n, "alt"); !ok {
				bad(n, "image without alt")
			}
		case n.DataAtom == atom.A:
			if _, ok := attr(n, "href"); ok && textOf(n) == "" && ariaName(n) == "" && imgAlt(n) == "" {
				bad(n, "link without an accessible name")
			}
		case n.DataAtom == atom.Button:
			if textOf(n) == "" && ariaName(n) == "" && imgAlt(n) == "" {
				bad(n, "button without an accessible name")
			}
		case n.DataAtom == atom.Input || n.DataAtom == atom.Select || n.DataAtom == atom.Textarea:
			typ, _ := attr(n, "type")
			typ = strings.ToLower(typ)
			if typ == "hidden" {
				continue
			}
			if typ == "submit" || typ == "button" || typ == "reset" {
				if v, _ := attr(n, "value"); strings.TrimSpace(v) == "" && ariaName(n) == "" {
					bad(n, "button without an accessible name")
				}
				continue
			}
			id, _ := attr(n, "id")
			if (id != "" && labelFor[id]) || inside(n, atom.Label) || ariaName(n) != "" {
				continue
			}
			bad(n, "form control without a label")
		case n.DataAtom == atom.Iframe:
			if s, _ := attr(n, "title"); strings.TrimSpace(s) == "" && ariaName(n) == "" {
				bad(n, "iframe without a title")
			}
		}
	}
	for id := range labelFor {
		if ids[id] == nil {
			problems = append(problems, fmt.Sprintf("<label for=%q> names no element", id))
		}
	}
	return problems
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// textOf is n's text content, spaces collapsed.
func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// imgAlt is the alt text of the images inside n (a link or button named by its image).
func imgAlt(n *html.Node) string {
	var alts []string
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.DataAtom == atom.Img {
			if alt, _ := attr(d, "alt"); strings.TrimSpace(alt) != "" {
				alts = append(alts, alt)
			}
		}
	}
	return strings.Join(alts, " ")
}

func inside(n *html.Node, a atom.Atom) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.DataAtom == a {
			return true
		}
	}
	return false
}

// describe names n for a failure message: its tag, id and class.
func describe(n *html.Node) string {
	s := "<" + n.Data
	for _, k := range []string{"id", "class", "name", "href", "type"} {
		if v, ok := attr(n, k); ok {
			s += fmt.Sprintf(" %s=%q", k, v)
		}
	}
	return s + ">"
}

// TestA11yProblemsFindsFaults: the checker behind TestPagesAccessible reports each
// fault it looks for (a checker that passes everything would prove nothing).
func TestA11yProblemsFindsFaults(t *testing.T) {
	const good = `<!doctype html><html lang="en"><head><title>T</title></head><body><main>` +
		`<label for="a">A</label><input id="a"><label>B <input></label><input aria-label="C"><input type="hidden">` +
		`<button>Go</button><a href="/">Home</a><img src="x.png" alt=""><div><svg role="img" aria-label="chart"></svg><table></table></div></main></body></html>`
	tests := []struct{ name, html, want string }{
		{"no lang", `<html><title>T</title><main></main></html>`, "no lang"},
		{"no title", `<html lang="en"><main></main></html>`, "no <title>"},
		{"two mains", `<html lang="en"><title>T</title><main></main><main></main></html>`, "2 <main>"},
		{"unlabelled input", `<html lang="en"><title>T</title><main><input id="x"></main></html>`, "without a label"},
		{"unlabelled textarea", `<html lang="en"><title>T</title><main><textarea></textarea></main></html>`, "without a label"},
		{"unlabelled select", `<html lang="en"><title>T</title><main><select></select></main></html>`, "without a label"},
		{"empty button", `<html lang="en"><title>T</title><main><button> </button></main></html>`, "button without"},
		{"empty link", `<html lang="en"><title>T</title><main><a href="/"></a></main></html>`, "link without"},
		{"chart without role", `<html lang="en"><title>T</title><main><svg aria-label="x"></svg></main></html>`, "role"},
		{"chart without name", `<html lang="en"><title>T</title><main><svg role="img"><g><title>bar</title></g></svg></main></html>`, "chart without a name"},
		{"chart without a table", `<html lang="en"><title>T</title><main><div><svg role="img" aria-label="x"></svg></div></main></html>`, "table of its values"},
		{"positive tabindex", `<html lang="en"><title>T</title><main><div tabindex="2"></div></main></html>`, "positive tabindex"},
		{"image without alt", `<html lang="en"><title>T</title><main><img src="x.png"></main></html>`, "without alt"},
		{"dangling labelledby", `<html lang="en"><title>T</title><main><input aria-labelledby="nope"></main></html>`, "not on the page"},
		{"duplicate id", `<html lang="en"><title>T</title><main><p id="x"></p><p id="x"></p></main></html>`, "duplicate id"},
	}
	doc, err := html.Parse(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if p := a11yProblems(doc); len(p) != 0 {
		t.Fatalf("a good page has problems: %q", p)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := html.Parse(strings.NewReader(tt.html))
			if err != nil {
				t.Fatal(err)
			}
			p := a11yProblems(doc)
			if !strings.Contains(strings.Join(p, "\n"), tt.want) {
				t.Fatalf("problems %q, want one with %q", p, tt.want)
			}
		})
	}
}
