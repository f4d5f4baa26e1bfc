// Vibe Coder dashboard: each page is a thin shell that talks to /api/v1 with the
// session cookie and the session's CSRF token.
(function () {
  'use strict';
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const page = document.body.dataset.page;
  const pageID = document.body.dataset.id;
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...kids) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') n.className = v; else if (k.startsWith('on')) n.addEventListener(k.slice(2), v); else n.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) n.append(k instanceof Node ? k : String(k));
    return n;
  }

  function flash(msg) { $('flash').textContent = msg || ''; }

  async function api(method, path, body) {
    const opt = { method, credentials: 'same-origin', headers: { 'Accept': 'application/json' } };
    if (method !== 'GET') opt.headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) { opt.headers['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
    const r = await fetch(path, opt);
    if (r.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname); throw new Error('signed out'); }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!r.ok) {
      let msg = (data && (data.detail || data.title)) || ('HTTP ' + r.status);
      if (data && data.errors) msg += ': ' + data.errors.map((e) => e.field + ' ' + e.message).join('; ');
      const err = new Error(msg); err.status = r.status; throw err;
    }
    return data;
  }

  function formJSON(form) {
    const o = {};
    for (const [k, v] of new FormData(form)) if (v !== '') o[k] = v;
    return o;
  }

  function onSubmit(form, fn) {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true; flash('');
      try { await fn(formJSON(form)); form.reset(); } catch (e) { flash(e.message); } finally { btn.disabled = false; }
    });
  }

  const when = (t) => (t ? new Date(t).toLocaleString() : '—');
  const badge = (s) => el('span', { class: 'badge ' + s }, s);
  const money = (n) => '$' + Number(n || 0).toFixed(4);

  // Projects list -------------------------------------------------------------
  async function projects() {
    const body = $('projects');
    async function load() {
      const d = await api('GET', '/api/v1/projects?limit=100');
      body.replaceChildren();
      if (!d.items.length) body.append(el('tr', {}, el('td', { colspan: 4 }, 'No projects yet.')));
      for (const p of d.items) {
        body.append(el('tr', {},
          el('td', {}, el('a', { href: '/projects/' + p.id }, p.name)),
          el('td', {}, el('code', {}, p.repo_url)),
          el('td', {}, badge(p.index_status || 'none')),
          el('td', {}, el('button', { type: 'button', class: 'secondary', 'aria-label': 'Index ' + p.name, onclick: () => indexProject(p.id).then(load) }, 'Index'))));
      }
    }
    onSubmit($('project-form'), async (o) => { await api('POST', '/api/v1/projects', o); flash('Project created.'); await load(); });
    await load();
  }

  async function indexProject(id) {
    try { await api('POST', '/api/v1/projects/' + id + '/index'); flash('Indexing queued.'); } catch (e) { flash(e.message); }
  }

  // One project: index, search, tasks -----------------------------------------------
  async function project() {
    const id = pageID;
    async function refreshStatus() {
      const p = await api('GET', '/api/v1/projects/' + id);
      $('index-status').replaceWith(Object.assign(badge(p.index_status || 'none'), { id: 'index-status' }));
      return p.index_status;
    }
    $('index-btn').addEventListener('click', async () => {
      await indexProject(id);
      for (let i = 0; i < 120; i++) { // poll until the index job settles (2 s apart, at most 4 minutes)
        const s = await refreshStatus();
        if (s === 'ready' || s === 'failed') break;
        await new Promise((r) => setTimeout(r, 2000));
      }
    });
    onSubmit($('search-form'), async (o) => {
      const group = o.group === 'file' ? 'file' : 'chunk';
      const d = await api('GET', '/api/v1/projects/' + id + '/search?limit=20&group=' + group + '&q=' + encodeURIComponent(o.q));
      const ol = $('results'); ol.replaceChildren();
      if (!d.items.length) ol.append(el('li', {}, 'No matches.'));
      const score = (it) => el('span', { class: 'score' }, 'score ' + Number(it.score).toFixed(3) + (it.language ? ' · ' + it.language : ''));
      for (const it of d.items) {
        if (group === 'file') { // a file, with its best chunk
          const c = (it.chunks || [])[0];
          ol.append(el('li', {}, el('strong', {}, it.path), ' ', score(it),
            c ? el('p', {}, 'best match: lines ' + c.start_line + '–' + c.end_line, c.symbol ? ' ' : '', c.symbol ? el('code', {}, c.symbol) : null) : null,
            c ? el('pre', {}, c.snippet) : null));
          continue;
        }
        ol.append(el('li', {},
          el('strong', {}, it.path + ':' + it.start_line + '–' + it.end_line), ' ',
          it.symbol ? el('code', {}, it.symbol) : null, ' ', score(it),
          el('pre', {}, it.snippet)));
      }
    });
    const tbody = $('tasks');
    async function loadTasks() {
      const d = await api('GET', '/api/v1/projects/' + id + '/tasks?limit=100');
      tbody.replaceChildren();
      if (!d.items.length) tbody.append(el('tr', {}, el('td', { colspan: 3 }, 'No tasks yet.')));
      for (const t of d.items) {
        tbody.append(el('tr', {},
          el('td', {}, el('a', { href: '/tasks/' + t.id }, t.title)),
          el('td', {}, badge(t.status)),
          el('td', {}, el('button', { type: 'button', 'aria-label': 'Run ' + t.title, onclick: () => runTask(t.id) }, 'Run'))));
      }
    }
    onSubmit($('task-form'), async (o) => { await api('POST', '/api/v1/projects/' + id + '/tasks', o); flash('Task added.'); await loadTasks(); });
    await loadTasks();
  }

  async function runTask(taskID) {
    try {
      const x = await api('POST', '/api/v1/tasks/' + taskID + '/run');
      location.href = '/executions/' + x.id;
    } catch (e) { flash(e.message); }
  }

  async function task() {
    $('run-btn').addEventListener('click', () => runTask(pageID));
    const d = await api('GET', '/api/v1/tasks/' + pageID + '/executions?limit=100');
    const tb = $('executions'); tb.replaceChildren();
    if (!d.items.length) tb.append(el('tr', {}, el('td', { colspan: 4 }, 'Not run yet.')));
    for (const x of d.items) {
      tb.append(el('tr', {},
        el('td', {}, el('a', { href: '/executions/' + x.id }, when(x.started_at || x.created_at))),
        el('td', {}, badge(x.status)), el('td', {}, x.step || '—'), el('td', {}, money(x.cost_usd))));
    }
  }

  // Execution: live from its event stream ----------------------------------------
  function renderDiff(text) {
    const pre = $('diff'); pre.replaceChildren();
    if (!text) { pre.textContent = '—'; return; }
    for (const line of text.split('\n')) {
      let cls = '';
      if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('diff ') || line.startsWith('index ')) cls = 'meta';
      else if (line.startsWith('+')) cls = 'add';
      else if (line.startsWith('-')) cls = 'del';
      else if (line.startsWith('@@')) cls = 'hunk';
      pre.append(cls ? el('span', { class: cls }, line) : line + '\n');
    }
  }

  function renderExecution(x) {
    const d = x.details || {};
    $('x-status').replaceWith(Object.assign(badge(x.status), { id: 'x-status' }));
    $('x-step').textContent = x.step || '—';
    $('x-tokens').textContent = x.tokens_in + ' in / ' + x.tokens_out + ' out';
    $('x-cost').textContent = money(x.cost_usd);
    const pr = d.pr_url || (x.commit && x.commit.pr_url);
    $('x-pr').replaceChildren(pr ? el('a', { href: pr, rel: 'noopener noreferrer' }, pr) : '—');
    const err = $('x-error'); err.hidden = !x.error; err.textContent = x.error || '';
    if (d.coder_output) $('llm').textContent = d.coder_output;
    renderDiff(d.diff);
    const tests = $('tests');
    if (d.tests && d.tests.length) {
      tests.replaceChildren(...d.tests.map((t) => el('div', {},
        el('p', {}, el('code', {}, t.command || ''), ' ', badge(t.passed ? 'passed' : 'failed'), ' exit ' + t.exit_code),
        el('pre', { class: 'out' }, t.output || ''))));
    }
    if (x.review) {
      const r = x.review;
      $('review').replaceChildren(el('p', {}, badge(r.verdict), ' ', r.summary),
        d.changes_requested ? el('p', { class: 'notice' }, 'The review still asks for changes after ' + (d.review_rounds || 0) +
          ' round(s) with the coder: the pull request was opened as a draft.') : '',
        el('ul', {}, ...(r.comments || []).map((c) => el('li', {}, el('code', {}, c.path + (c.line ? ':' + c.line : '')), ' ', c.body))));
    }
    if (d.steps && d.steps.length && !$('timeline').children.length) {
      for (const s of d.steps) addTimeline(s.started_at, 'step ' + s.name + ' (attempt ' + s.attempt + '): ' + s.status + (s.error ? ' — ' + s.error : ''));
    }
  }

  function addTimeline(t, text) {
    const ol = $('timeline');
    ol.append(el('li', {}, el('time', {}, t ? new Date(t).toLocaleTimeString() : ''), text));
    ol.scrollTop = ol.scrollHeight;
  }

  async function execution() {
    const id = pageID;
    let pending = null;
    const refresh = () => { clearTimeout(pending); pending = setTimeout(async () => renderExecution(await api('GET', '/api/v1/executions/' + id)), 200); };
    renderExecution(await api('GET', '/api/v1/executions/' + id));
    $('timeline').replaceChildren(); // the stream replays every event from the start
    const es = new EventSource('/api/v1/executions/' + id + '/events', { withCredentials: true });
    const kinds = ['execution.queued', 'step.started', 'workspace.ready', 'llm.output', 'edits.applied', 'diff', 'tests.finished',
      'tests.skipped', 'review', 'commit', 'pushed', 'pr.opened', 'step.retry', 'execution.finished'];
    es.onopen = () => { $('x-live').textContent = 'live'; };
    es.onerror = () => { $('x-live').textContent = 'reconnecting…'; };
    for (const k of kinds) {
      es.addEventListener(k, (ev) => {
        let data = {};
        try { data = JSON.parse(ev.data); } catch (e) { /* keep the raw text out */ }
        let text = k;
        if (data.step) text += ' ' + data.step;
        if (data.agent) text += ' (' + data.agent + ')';
        if (data.attempt) text += ' · attempt ' + data.attempt;
        if (k === 'tests.finished') text += data.passed ? ' · passed' : ' · failed (exit ' + data.exit_code + ')';
        if (k === 'llm.output' && data.text && data.agent !== 'reviewer') $('llm').textContent = data.text;
        if (k === 'diff' && data.diff) renderDiff(data.diff);
        if (data.error) text += ' — ' + data.error;
        addTimeline(data.at || data.time || Date.now(), text);
        refresh();
      });
    }
    // The preview shows the working copy while the run goes on and the commit at the
    // end: reload it when the files change.
    const frame = $('preview');
    const reloadPreview = () => { if (frame) frame.src = frame.getAttribute('src'); };
    if ($('preview-reload')) $('preview-reload').addEventListener('click', reloadPreview);
    for (const k of ['diff', 'execution.finished']) es.addEventListener(k, reloadPreview);
    es.addEventListener('end', () => { es.close(); $('x-live').textContent = 'finished'; refresh(); reloadPreview(); });
  }

  // API keys ----------------------------------------------------------------------
  async function keys() {
    const tb = $('keys');
    async function load() {
      const d = await api('GET', '/api/v1/apikeys?limit=100');
      tb.replaceChildren();
      if (!d.items.length) tb.append(el('tr', {}, el('td', { colspan: 6 }, 'No keys yet.')));
      for (const k of d.items) {
        tb.append(el('tr', {},
          el('td', {}, k.name), el('td', {}, el('code', {}, k.prefix)), el('td', {}, when(k.created_at)), el('td', {}, when(k.last_used_at)),
          el('td', {}, k.revoked_at ? badge('revoked') : badge('active')),
          el('td', {}, k.revoked_at ? '' : el('button', { type: 'button', class: 'danger', 'aria-label': 'Revoke key ' + k.name,
            onclick: async () => { if (!confirm('Revoke "' + k.name + '"? It stops working at once.')) return; await api('DELETE', '/api/v1/apikeys/' + k.id); flash('Key revoked.'); await load(); } }, 'Revoke'))));
      }
    }
    onSubmit($('key-form'), async (o) => {
      const k = await api('POST', '/api/v1/apikeys', o);
      $('new-key-value').textContent = k.key; $('new-key').hidden = false;
      await load();
    });
    await load();
  }

  // System ------------------------------------------------------------------------
  function dl(obj) {
    const d = el('dl', { class: 'facts' });
    for (const [k, v] of Object.entries(obj || {})) {
      d.append(el('dt', {}, k), el('dd', {}, v !== null && typeof v === 'object' ? dl(v) : String(v)));
    }
    return d;
  }

  async function system() {
    try {
      const r = await fetch('/health', { credentials: 'same-origin' });
      $('health').replaceChildren(dl(await r.json()));
    } catch (e) { $('health').textContent = 'Health unavailable: ' + e.message; }
    try {
      const r = await fetch('/metrics', { credentials: 'same-origin', headers: { 'Accept': 'application/json' } });
      if (r.status === 401) { $('metrics').textContent = 'Metrics are protected by VIBECODER_METRICS_TOKEN; use the token to read them.'; return; }
      if (!r.ok) { $('metrics').textContent = 'Metrics unavailable (HTTP ' + r.status + ').'; return; }
      const m = await r.json();
      const pick = { httpRequests: m.httpRequests, llmRequests: m.llmRequests, cachePerformance: m.cachePerformance, memory: m.memory };
      for (const k of Object.keys(pick)) if (pick[k] && pick[k].byRoute) delete pick[k].byRoute;
      $('metrics').replaceChildren(dl(pick));
    } catch (e) { $('metrics').textContent = 'Metrics unavailable: ' + e.message; }
  }

  const pages = { projects, project, task, execution, keys, system };
  if (pages[page]) pages[page]().catch((e) => flash(e.message));
})();
