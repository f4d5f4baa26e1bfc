package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// contrastJS lists every element that directly holds visible text (and every empty
// field's placeholder) whose colour contrast against its effective background is
// under WCAG AA: 4.5:1, or 3:1 for large text (24px, or 18.66px bold). The
// background is found by compositing the element's and its ancestors' background
// colours up to the first opaque one, over the body's (the page's) background.
const contrastJS = `(() => {
  const parse = (s) => {
    const m = /^rgba?\(([^)]*)\)$/.exec(s.trim());
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const over = (top, bottom) => {
    const a = top.a + bottom.a * (1 - top.a);
    if (a === 0) return {r: 0, g: 0, b: 0, a: 0};
    const mix = (t, b) => (t * top.a + b * bottom.a * (1 - top.a)) / a;
    return {r: mix(top.r, bottom.r), g: mix(top.g, bottom.g), b: mix(top.b, bottom.b), a};
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const ratio = (x, y) => { const a = lum(x), b = lum(y); return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
  const problems = [];
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  const color = (el, s, what) => {
    const c = parse(s);
    if (!c) problems.push(name(el) + ': cannot read the ' + what + ' colour ' + JSON.stringify(s));
    return c;
  };
  const white = {r: 255, g: 255, b: 255, a: 1};
  const page = over(color(document.body, getComputedStyle(document.body).backgroundColor, 'body background') || white, white);
  const background = (el) => {
    const layers = [];
    for (let n = el; n && n !== document.body && n !== document.documentElement; n = n.parentElement) {
      const c = color(n, getComputedStyle(n).backgroundColor, 'background');
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = page;
    for (const l of layers.reverse()) bg = over(l, bg);
    return bg;
  };
  const hex = (c) => '#' + [c.r, c.g, c.b].map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility === 'visible' && !el.closest('[hidden]');
  };
  let checked = 0;
  const check = (el, fgText, text, pseudo) => {
    const st = getComputedStyle(el);
    let fg = color(el, fgText, 'text');
    if (!fg) return;
    let opacity = 1;
    for (let n = el; n; n = n.parentElement) opacity *= Number(getComputedStyle(n).opacity);
    const bg = background(el);
    fg = over({...fg, a: fg.a * opacity}, bg);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    const got = ratio(fg, bg);
    checked++;
    if (got < need) {
      problems.push(name(el) + pseudo + ' ' + JSON.stringify(text.trim().slice(0, 40)) + ': ' + got.toFixed(2) + ':1 (' +
        hex(fg) + ' on ' + hex(bg) + ', ' + size + 'px' + (bold ? ' bold' : '') + '), want ' + need + ':1');
    }
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (['SCRIPT', 'STYLE', 'TITLE'].includes(el.tagName) || el.closest(':disabled') || !visible(el)) continue;
    const text = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.data).join('');
    if (text.trim()) {
      const st = getComputedStyle(el);
      check(el, el instanceof SVGElement ? st.fill : st.color, text, '');
    }
    if ((el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') && el.placeholder && !el.value) {
      check(el, getComputedStyle(el, '::placeholder').color, el.placeholder, '::placeholder');
    }
  }
  return {checked, problems};
})()`

// focusablesJS numbers the page's focusable elements in DOM order (data-a11y-i) and
// returns their descriptions.
const focusablesJS = `(() => {
  const list = [...document.querySelectorAll('a[href],button,input:not([type=hidden]),select,textarea,iframe,summary,[tabindex]')]
    .filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0 &&
      getComputedStyle(el).visibility === 'visible' && !el.closest('[hidden],[inert]'));
  return list.map((el, i) => {
    el.setAttribute('data-a11y-i', String(i));
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' ' + JSON.stringify((el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 30));
  });
})()`

// focusedJS describes the focused element: its number from focusablesJS, whether
// it shows a focus indicator (an outline or a box shadow), and the outline's contrast
// against what is around the element (its parent's background).
const focusedJS = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {i: -1, indicator: 'nothing focused', ok: false};
  const st = getComputedStyle(el);
  const outline = st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0;
  const shadow = st.boxShadow !== 'none';
  let contrast = 0;
  if (outline) {
    const parse = (s) => { const m = /^rgba?\(([^)]*)\)$/.exec(s.trim()); if (!m) return null;
      const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
    const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
      return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
    let bg = null;
    for (let n = el.parentElement; n && !bg; n = n.parentElement) { const c = parse(getComputedStyle(n).backgroundColor); if (c && c.a >= 1) bg = c; }
    const fg = parse(st.outlineColor);
    if (bg && fg) { const a = lum(fg), b = lum(bg); contrast = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); }
  }
  return {
    i: Number(el.getAttribute('data-a11y-i') ?? -2),
    indicator: outline ? 'outline ' + st.outlineWidth + ' ' + st.outlineStyle + ' ' + st.outlineColor + ' (' + contrast.toFixed(2) + ':1)' : shadow ? 'box-shadow ' + st.boxShadow : 'none',
    ok: (outline && contrast >= 3) || shadow,
  };
})()`

type contrastResult struct {
	Checked  int      `json:"checked"`
	Problems []string `json:"problems"`
}

type focusState struct {
	I         int    `json:"i"`
	Indicator string `json:"indicator"`
	OK        bool   `json:"ok"`
}

// TestBrowserAccessibility checks, in headless Chromium, the dashboard's main pages
// (log in, sign up, projects, a project, API keys, usage, system) as a user sees
// them: every visible text has WCAG AA contrast against its background; pressing Tab
// from the top of the page visits every link, button and field in DOM order, each
// with a visible focus indicator (an outline of 3:1 contrast, or a box shadow); and
// the log-in form and the new-project form can be filled in and submitted with the
// keyboard alone.
func TestBrowserAccessibility(t *testing.T) {
	chrome := requireChromium(t)
	f := newA11yFixture(t)

	b := openTab(t, chrome, 1280, 900, f.srv.URL+"/signup", 2*time.Minute)
	ctx, do, eval := b.ctx, b.do, b.eval
	focused := func() focusState {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[focusState](focusedJS))
		if err != nil {
			t.Fatalf("focused element: %v", err)
		}
		return s
	}
	// open loads path afresh (so Tab starts from the top) and waits for the page's
	// script to fill in what it loads.
	open := func(path string) {
		t.Helper()
		do("open "+path, chromedp.Navigate(f.srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main h1")),
			chromedp.Poll[chromedp.Void](`document.readyState === 'complete' && !document.querySelector('main').textContent.includes('Loading…')`))
	}
	// contrast checks the open page's text contrast.
	contrast := func(t *testing.T) int {
		t.Helper()
		c, err := chromedp.Run(ctx, chromedp.Evaluate[contrastResult](contrastJS))
		if err != nil {
			t.Fatalf("contrast: %v", err)
		}
		if c.Checked == 0 {
			t.Error("no text was checked for contrast")
		}
		for _, p := range c.Problems {
			t.Errorf("contrast: %s", p)
		}
		return c.Checked
	}
	// narrow checks that the open page fits a phone's width (375px) without
	// scrolling sideways.
	narrow := func(t *testing.T) {
		t.Helper()
		do("phone width", chromedp.EmulateViewport(375, 800))
		over := eval(`(() => { const w = document.documentElement.clientWidth;
		  if (document.documentElement.scrollWidth <= w) return '';
		  return [...document.body.querySelectorAll('*')].filter((el) => el.getBoundingClientRect().right > w + 1 && !el.closest('.skip'))
		    .slice(0, 5).map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' right ' + Math.round(el.getBoundingClientRect().right)).join(', ') || 'something'; })()`)
		do("desktop width", chromedp.EmulateViewport(1280, 900))
		if over != "" {
			t.Errorf("at 375px wide the page scrolls sideways: %s", over)
		}
	}
	// audit checks the open page's contrast, its Tab order and its phone layout.
	audit := func(t *testing.T) {
		checked := contrast(t)
		defer narrow(t)
		want, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](focusablesJS))
		if err != nil {
			t.Fatalf("focusable elements: %v", err)
		}
		if len(want) == 0 {
			t.Fatal("nothing on the page can take focus")
		}
		t.Logf("%d texts checked for contrast; %d focusable elements", checked, len(want))
		for i, w := range want {
			do("press Tab", chromedp.KeyEvent(kb.Tab))
			got := focused()
			if got.I != i {
				t.Errorf("Tab %d focused element %d, want %d: %s (all: %q)", i+1, got.I, i, w, want)
				return
			}
			if !got.OK {
				t.Errorf("Tab %d, %s: no visible focus indicator (%s)", i+1, w, got.Indicator)
			}
		}
	}
	// tabTo presses Tab until the element with id has focus.
	tabTo := func(id string) {
		t.Helper()
		for range 40 {
			if eval(`document.activeElement.id`) == id {
				return
			}
			do("press Tab", chromedp.KeyEvent(kb.Tab))
		}
		t.Fatalf("Tab never reached #%s", id)
	}

	// The checks themselves: on a page with faults planted, they report them.
	t.Run("the checks find planted faults", func(t *testing.T) {
		open("/login")
		eval(`(() => {
		  const p = document.createElement('p'); p.id = 'planted'; p.textContent = 'grey on white'; p.style.cssText = 'color:#aaa;background:#fff';
		  const b = document.createElement('button'); b.id = 'no-ring'; b.textContent = 'no ring'; b.style.outline = 'none';
		  document.querySelector('main').append(p, b); return 'ok';
		})()`)
		c, err := chromedp.Run(ctx, chromedp.Evaluate[contrastResult](contrastJS))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(c.Problems, "\n"), "p#planted") {
			t.Errorf("low contrast text not reported: %q", c.Problems)
		}
		do("focus the button", chromedp.Focus(chromedp.CSS("#no-ring")))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](focusablesJS)); err != nil {
			t.Fatal(err)
		}
		if got := focused(); got.OK {
			t.Errorf("a button without a focus ring passes: %+v", got)
		}
	})

	for _, path := range []string{"/signup", "/login"} {
		t.Run("signed out "+path, func(t *testing.T) {
			open(path)
			audit(t)
		})
	}

	// Log in with the keyboard alone: Tab to each field, type, Enter to submit; first
	// with a wrong password, whose error must be as legible as the rest.
	open("/login")
	tabTo("email")
	do("type the email", chromedp.KeyEvent("owner@example.com"))
	tabTo("password")
	do("type a wrong password and press Enter", chromedp.KeyEvent("not the password"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`main [role="alert"]`)))
	t.Run("log-in error", func(t *testing.T) { contrast(t) })
	tabTo("password")
	do("type the password and press Enter", chromedp.KeyEvent("correct horse battery"), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#project-form")))
	if loc := eval(`location.pathname`); loc != "/projects" {
		t.Fatalf("after logging in with the keyboard the browser is at %q", loc)
	}

	for _, path := range []string{"/projects", "/projects/" + f.pid, "/keys", "/usage", "/system"} {
		t.Run("owner "+path, func(t *testing.T) {
			open(path)
			audit(t)
		})
	}

	// Create a project with the keyboard alone (a form the page's script submits).
	open("/projects")
	tabTo("p-name")
	do("type the name", chromedp.KeyEvent("Keyboard project"))
	tabTo("p-repo")
	do("type the URL and press Enter", chromedp.KeyEvent("https://example.com/keyboard.git"), chromedp.KeyEvent(kb.Enter),
		chromedp.Poll[chromedp.Void](`document.getElementById('projects').textContent.includes('Keyboard project')`))
	if flash := eval(`document.getElementById('flash').textContent`); !strings.Contains(flash, "Project created") {
		t.Errorf("after creating a project with the keyboard the page says %q", flash)
	}
	t.Run("projects with a message", func(t *testing.T) { contrast(t) })
}
