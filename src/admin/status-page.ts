/**
 * The status page served by the admin listener at `/`: a static HTML shell, a stylesheet and a
 * script that polls the JSON API every two seconds and draws each route's recent traffic as
 * small inline SVG charts (requests/s, p50 and p99 latency, 5xx share) from
 * `/api/v1/traffic`. Self-contained: no CDN, no web fonts, no inline script or style, so the
 * Content-Security-Policy allows only these same-origin files. Every value reaches the page
 * through `textContent` or an SVG attribute set from a number (never innerHTML), so a service
 * or route named `<script>` is displayed, not run.
 *
 * When the admin API's reads need a token (admin.readToken), the API answers 401 and the page
 * shows a token field. The token is kept in the tab's sessionStorage (gone when the tab
 * closes, never shared with other tabs or sites) and sent as `Authorization: Bearer` on each
 * request; never in a URL, where it would reach browser history and access logs. The page's
 * own files need no token: they hold no data.
 */

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard status</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<header>
  <div class="title">
    <h1>Switchyard</h1>
    <span id="summary">loading…</span>
  </div>
  <form id="login" class="login" hidden>
    <label for="token">Reads of this admin API need a token (admin.readToken or admin.token)</label>
    <input id="token" type="password" autocomplete="off" spellcheck="false" required>
    <button type="submit">Show</button>
    <span id="login-error" class="error"></span>
  </form>
  <button id="logout" class="logout" type="button" hidden>Forget the token</button>
  <div class="badges">
    <span id="ready" class="badge"></span>
    <span id="registry" class="badge"></span>
    <span id="reload" class="badge"></span>
    <span id="state" class="badge"></span>
  </div>
</header>
<main>
  <section>
    <div class="section-head">
      <h2>Routes</h2>
      <span class="legend"><span id="window">last 5 min</span><span class="key key-rps"></span>requests/s<span class="key key-p50"></span>p50<span class="key key-p99"></span>p99<span class="key key-err"></span>5xx share</span>
    </div>
    <table id="routes">
      <thead><tr><th>Route</th><th>Match</th><th>Service</th><th class="num">Requests</th><th class="chart-col">Requests/s</th><th class="chart-col">Latency p50 / p99</th><th class="chart-col">Errors (5xx)</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <div class="section-head">
      <h2>Listeners</h2>
      <span class="legend">protocols in ALPN preference order; connections open now in this process</span>
    </div>
    <table id="listeners">
      <thead><tr><th>Listener</th><th>Address</th><th>TLS</th><th>Protocols</th><th class="num">Connections</th><th class="num">HTTP/2 connections</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <div class="section-head">
      <h2>Endpoints</h2>
      <span class="legend">requests and errors are tries since the endpoint appeared (retries count again)</span>
    </div>
    <table id="services">
      <thead><tr><th>Service</th><th>Endpoint</th><th>Registry</th><th>Health check</th><th>State</th><th class="num">Requests</th><th class="num">Errors</th><th class="num">In flight</th><th class="num">Weight</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<footer><span id="updated"></span> · <a href="/metrics">/metrics</a> · <a href="/api/v1/status">API</a></footer>
</body>
</html>
`;

const CSS = `:root { color-scheme: light; --ink: #1d2330; --muted: #667085; --line: #e4e7ec; --bg: #f5f6f8; --card: #fff;
  --ok: #17803d; --warn: #a15c00; --bad: #b42318; --rps: #2563eb; --p50: #0e9f6e; --p99: #7c3aed; --err: #dc2626; }
* { box-sizing: border-box; }
body { font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: var(--ink); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: .5rem 1.5rem; padding: .8rem 1.5rem; background: var(--card); border-bottom: 1px solid var(--line); }
.title { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
h1 { margin: 0; font-size: 1.3rem; letter-spacing: -.01em; }
#summary { color: var(--muted); }
.badges { display: flex; flex-wrap: wrap; gap: .4rem; }
.badge { display: inline-block; padding: .15rem .6rem; border-radius: 999px; border: 1px solid var(--line); background: #f9fafb; white-space: nowrap; max-width: 46rem; overflow: hidden; text-overflow: ellipsis; }
.badge:empty { display: none; }
.badge.ok { color: var(--ok); border-color: #b7e4c7; background: #effaf3; }
.badge.warn { color: var(--warn); border-color: #f6d8a8; background: #fff8ec; }
.badge.bad { color: var(--bad); border-color: #f5c2bd; background: #fef3f2; font-weight: 600; }
main { padding: .5rem 1.5rem 1rem; max-width: 1500px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; margin: 1rem 0; padding: .6rem 1rem 1rem; }
.section-head { display: flex; align-items: baseline; justify-content: space-between; gap: 1rem; flex-wrap: wrap; }
h2 { font-size: 1.05rem; margin: .3rem 0 .5rem; }
.legend { color: var(--muted); font-size: 12px; display: inline-flex; align-items: center; gap: .35rem; flex-wrap: wrap; }
.legend #window { margin-right: .6rem; }
.key { display: inline-block; width: 14px; height: 3px; border-radius: 2px; margin-left: .5rem; }
.key-rps { background: var(--rps); } .key-p50 { background: var(--p50); } .key-p99 { background: var(--p99); } .key-err { background: var(--err); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
tbody tr:last-child td { border-bottom: none; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { font-weight: 600; min-width: 8rem; max-width: 16rem; overflow-wrap: anywhere; }
td.match { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; max-width: 16rem; overflow-wrap: anywhere; }
td.endpoint { white-space: nowrap; max-width: none; }
th.chart-col { white-space: nowrap; }
.chart { display: flex; align-items: center; gap: .6rem; }
.chart svg { flex: none; display: block; background: #fafbfc; border: 1px solid #eef0f3; border-radius: 4px; }
.chart .now { font-variant-numeric: tabular-nums; min-width: 4.8rem; white-space: nowrap; }
.chart .now small { color: var(--muted); }
svg .grid { stroke: #e4e7ec; stroke-width: 1; }
svg .line { fill: none; stroke-width: 1.6; stroke-linejoin: round; stroke-linecap: round; }
svg .area { stroke: none; opacity: .14; }
svg .rps { stroke: var(--rps); } svg .area.rps { fill: var(--rps); }
svg .p50 { stroke: var(--p50); } svg .p99 { stroke: var(--p99); }
svg .err { stroke: var(--err); } svg .area.err { fill: var(--err); }
svg text { font-size: 9px; fill: var(--muted); }
.passing, .available, .pass { color: var(--ok); }
.warning, .drained { color: var(--warn); font-weight: 600; }
.critical, .unavailable, .fail, .ejected { color: var(--bad); font-weight: 600; }
.muted, .since { color: var(--muted); font-weight: 400; }
.since { font-size: 12px; }
.error { color: var(--bad); }
.login { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; }
.login[hidden], .logout[hidden] { display: none; }
.login input { font: inherit; padding: .2rem .4rem; min-width: 18rem; border: 1px solid var(--line); border-radius: 4px; }
.login button, .logout { font: inherit; padding: .2rem .7rem; border: 1px solid var(--line); border-radius: 4px; background: #f9fafb; cursor: pointer; }
footer { padding: 0 1.5rem 1.5rem; color: var(--muted); }
footer a { color: var(--muted); }
`;

const SCRIPT = `'use strict';
(function () {
  const INTERVAL_MS = 2000;
  const SVG = 'http://www.w3.org/2000/svg';
  const W = 160;
  const H = 38;
  // The charts show at least this much time, growing to the full history window as it fills.
  const MIN_SPAN_MS = 60000;

  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function cell(row, text, className) {
    const td = el('td', className, text);
    row.appendChild(td);
    return td;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  function replaceRows(tableId, rows) {
    const body = document.querySelector('#' + tableId + ' tbody');
    body.replaceChildren.apply(body, rows);
  }

  // The read token, kept for this tab only (sessionStorage); sent in a header, never in a URL.
  const TOKEN_KEY = 'switchyard.adminToken';

  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function storeToken(token) {
    try {
      if (token === null) sessionStorage.removeItem(TOKEN_KEY);
      else sessionStorage.setItem(TOKEN_KEY, token);
    } catch (e) { /* storage refused (private mode): the token lives until the page reloads */ }
    memoryToken = token;
  }

  let memoryToken = storedToken();

  function NeedsToken(refused) {
    this.refused = refused;
    this.message = refused ? 'the token was refused' : 'a token is needed';
  }

  function getJson(path) {
    const token = memoryToken;
    const init = { cache: 'no-store', headers: token ? { authorization: 'Bearer ' + token } : {} };
    return fetch(path, init).then(function (r) {
      if (r.status === 401) throw new NeedsToken(token !== null);
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function showLogin(refused) {
    const form = document.getElementById('login');
    form.hidden = false;
    document.getElementById('logout').hidden = true;
    document.getElementById('login-error').textContent = refused ? 'token refused' : '';
    document.getElementById('token').focus();
  }

  document.getElementById('login').addEventListener('submit', function (event) {
    event.preventDefault();
    const input = document.getElementById('token');
    const token = input.value.trim();
    if (token === '') return;
    input.value = '';
    storeToken(token);
    document.getElementById('login').hidden = true;
    refresh();
  });

  document.getElementById('logout').addEventListener('click', function () {
    storeToken(null);
    location.reload();
  });

  function ago(iso, now) {
    if (iso === null || iso === undefined) return '';
    const t = typeof iso === 'number' ? iso : Date.parse(iso);
    const s = Math.max(0, Math.round((now - t) / 1000));
    if (s < 60) return s + 's ago';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's ago';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm ago';
    return Math.floor(s / 86400) + 'd ago';
  }

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  function fixed(n, digits) {
    return n === null || n === undefined ? '–' : n.toFixed(digits);
  }

  function ms(n) {
    if (n === null || n === undefined) return '–';
    return n < 10 ? n.toFixed(1) : n < 1000 ? n.toFixed(0) : (n / 1000).toFixed(2) + 's';
  }

  function niceMax(v, floor) {
    const m = Math.max(v, floor);
    const p = Math.pow(10, Math.floor(Math.log10(m)));
    const steps = [1, 2, 2.5, 5, 10];
    for (let i = 0; i < steps.length; i++) if (m <= steps[i] * p) return steps[i] * p;
    return 10 * p;
  }

  // A path through the points of one series; null values break the line.
  function linePath(points, key, x, y) {
    let d = '';
    let open = false;
    points.forEach(function (p) {
      const v = p[key];
      if (v === null || v === undefined) { open = false; return; }
      d += (open ? 'L' : 'M') + x(p.at).toFixed(1) + ' ' + y(v).toFixed(1);
      open = true;
    });
    return d;
  }

  function areaPath(points, key, x, y) {
    const line = linePath(points, key, x, y);
    if (line === '' || line.indexOf('L') < 0) return '';
    const first = points.find(function (p) { return p[key] !== null; });
    const last = points[points.length - 1];
    return line + 'L' + x(last.at).toFixed(1) + ' ' + H + 'L' + x(first.at).toFixed(1) + ' ' + H + 'Z';
  }

  // One sparkline: series = [{ key, cls, area }], scaled to the largest value (at least floor).
  function chart(kind, points, series, floor, label, now, spanMs, fmtMax) {
    let max = 0;
    points.forEach(function (p) { series.forEach(function (s) { const v = p[s.key]; if (v !== null && v > max) max = v; }); });
    const top = niceMax(max, floor);
    const x = function (at) { return W - ((now - at) / spanMs) * W; };
    const y = function (v) { return H - 2 - (v / top) * (H - 6); };
    const root = svg('svg', { width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, role: 'img', class: 'spark ' + kind });
    const title = svg('title', {});
    title.textContent = label;
    root.appendChild(title);
    root.appendChild(svg('line', { class: 'grid', x1: 0, x2: W, y1: H - 2 + 0.5, y2: H - 2 + 0.5 }));
    root.appendChild(svg('line', { class: 'grid', x1: 0, x2: W, y1: 4.5, y2: 4.5 }));
    const top_ = svg('text', { x: 2, y: 11 });
    top_.textContent = fmtMax(top);
    root.appendChild(top_);
    series.forEach(function (s) {
      if (s.area) {
        const a = areaPath(points, s.key, x, y);
        if (a) root.appendChild(svg('path', { class: 'area ' + s.cls, d: a }));
      }
      const d = linePath(points, s.key, x, y);
      if (d) root.appendChild(svg('path', { class: 'line ' + s.cls, d: d }));
    });
    const last = points.length ? points[points.length - 1] : null;
    root.setAttribute('data-points', String(points.length));
    root.setAttribute('data-last', last === null || last[series[0].key] === null ? '' : String(last[series[0].key]));
    return root;
  }

  function chartCell(row, svgEl, nowText, sub) {
    const td = el('td');
    const wrap = el('div', 'chart');
    wrap.appendChild(svgEl);
    const now = el('span', 'now', nowText);
    if (sub) { now.appendChild(document.createElement('br')); now.appendChild(el('small', '', sub)); }
    wrap.appendChild(now);
    td.appendChild(wrap);
    row.appendChild(td);
  }

  function renderHeader(status, registry, now) {
    document.getElementById('summary').textContent =
      'version ' + status.version + ' · pid ' + status.pid + ' · up since ' + new Date(status.startedAt).toLocaleString() + ' · ' + status.configFile;
    const ready = document.getElementById('ready');
    ready.className = 'badge ' + (status.ready ? 'ok' : 'bad');
    ready.textContent = status.ready ? 'ready' : 'not ready';
    ready.title = status.notReadyReason || '';

    const reg = document.getElementById('registry');
    let text = 'registry ' + registry.source + ' · ' + registry.services + ' services · ';
    let cls = 'ok';
    const view = registry.persistedView;
    if (view && view.serving) { text += 'STALE: serving the persisted view saved ' + ago(view.savedAt, now) + ' (registry not reached since start)'; cls = 'bad'; }
    else if (!registry.synced) { text += 'not synced yet'; cls = 'bad'; }
    else if (registry.staleSince !== null && registry.staleSince !== undefined) { text += 'stale since ' + ago(registry.staleSince, now); cls = 'bad'; }
    else if (registry.lastError) { text += 'error'; cls = 'warn'; }
    else text += registry.staleSince === null ? 'in sync (watching)' : 'synced ' + ago(registry.lastSyncAt, now);
    if (registry.lastError) text += ': ' + registry.lastError;
    if (view && view.error) text += ' · persisted view: ' + view.error;
    reg.className = 'badge ' + cls;
    reg.textContent = text;
    reg.title = registry.location + (registry.lastSyncAt ? ' · last sync ' + registry.lastSyncAt : '') + ' · sync errors ' + (registry.syncErrors || 0);

    const reload = document.getElementById('reload');
    if (status.reload.ok) {
      reload.className = 'badge';
      reload.textContent = 'config loaded ' + ago(status.reload.lastSuccessAt, now);
    } else {
      reload.className = 'badge bad';
      reload.textContent = 'last reload rejected ' + ago(status.reload.at, now) + ': ' + status.reload.error;
    }
    const state = document.getElementById('state');
    const st = status.operatorState;
    if (st) {
      const failed = st.lastError !== null;
      state.className = 'badge ' + (failed ? 'bad' : '');
      state.textContent = 'operator state: ' + plural(st.drains, 'drain') + ', ' + plural(st.overrides, 'override') + ' · ' + st.store + (failed ? ' · ' + st.lastError : '');
      state.title = st.location;
    }
  }

  function renderRoutes(routes, traffic) {
    const now = traffic.now;
    let oldest = now;
    const byRoute = new Map();
    traffic.routes.forEach(function (t) {
      byRoute.set(t.route, t.points);
      if (t.points.length && t.points[0].at < oldest) oldest = t.points[0].at;
    });
    const spanMs = Math.min(traffic.windowMs, Math.max(MIN_SPAN_MS, now - oldest));
    const minutes = spanMs / 60000;
    document.getElementById('window').textContent = 'last ' + (minutes >= 1 ? Math.round(minutes) + ' min' : Math.round(spanMs / 1000) + ' s') + ' (up to ' + Math.round(traffic.windowMs / 60000) + '), a point every ' + traffic.intervalMs / 1000 + ' s' + (traffic.processes > 1 ? ', ' + traffic.processes + ' workers summed' : '');
    const windowMs = spanMs;
    const rows = routes.map(function (r) {
      const points = byRoute.get(r.name) || [];
      const last = points.length ? points[points.length - 1] : null;
      const tr = el('tr');
      tr.setAttribute('data-route', r.name);
      cell(tr, r.name, 'name');
      cell(tr, (r.host === null ? '*' : r.host) + r.path + (r.methods ? ' [' + r.methods.join(',') + ']' : ''), 'match');
      const svc = cell(tr, r.service);
      svc.appendChild(el('span', 'since', ' ' + r.source));
      cell(tr, String(r.requests), 'num total');
      chartCell(tr, chart('rps', points, [{ key: 'rps', cls: 'rps', area: true }], 1, 'requests per second, ' + r.name, now, windowMs, function (v) { return String(v); }),
        last ? fixed(last.rps, 1) + ' /s' : '–');
      chartCell(tr, chart('latency', points, [{ key: 'p99', cls: 'p99' }, { key: 'p50', cls: 'p50' }], 1, 'latency p50 and p99 (ms), ' + r.name, now, windowMs, function (v) { return v + ' ms'; }),
        last && last.p50 !== null ? ms(last.p50) + ' / ' + ms(last.p99) + ' ms' : '–');
      chartCell(tr, chart('errors', points, [{ key: 'errorRate', cls: 'err', area: true }], 0.05, '5xx share of requests, ' + r.name, now, windowMs, function (v) { return Math.round(v * 100) + '%'; }),
        last && last.errorRate !== null ? fixed(last.errorRate * 100, 1) + '%' : '–');
      return tr;
    });
    replaceRows('routes', rows);
  }

  const SOURCES = { registry: 'registry critical', activeCheck: 'health check failing', outlier: 'ejected', drain: 'drained' };

  function stateOf(e) {
    if (e.drained) return { text: 'drained', cls: 'drained', since: e.changedAt.drain };
    if (e.ejected) return { text: 'ejected', cls: 'ejected', since: e.changedAt.outlier };
    if (!e.available) {
      const first = e.failing[0];
      return { text: e.failing.map(function (f) { return SOURCES[f] || f; }).join(', ') || 'unavailable', cls: 'unavailable', since: first ? e.changedAt[first] : null };
    }
    let since = null;
    Object.keys(e.changedAt).forEach(function (k) { const t = e.changedAt[k]; if (t !== null && (since === null || t > since)) since = t; });
    return { text: 'available', cls: 'available', since: since };
  }

  function renderServices(services, now) {
    const rows = [];
    services.forEach(function (s) {
      if (s.endpoints.length === 0) {
        const empty = el('tr');
        cell(empty, s.name, 'name');
        cell(empty, 'no endpoints', 'critical');
        for (let i = 0; i < 7; i++) cell(empty, '');
        rows.push(empty);
      }
      s.endpoints.forEach(function (e) {
        const tr = el('tr');
        tr.setAttribute('data-endpoint', e.endpoint);
        cell(tr, s.name, 'name');
        cell(tr, e.endpoint + (e.id !== e.endpoint ? ' (' + e.id + ')' : ''), 'match endpoint');
        cell(tr, e.health, e.health);
        if (e.healthCheck === null) cell(tr, s.routed ? 'not configured' : '–', 'muted');
        else {
          const hc = cell(tr, (e.healthCheck.ok ? '✓ ' : '✗ ') + e.healthCheck.detail, e.healthCheck.ok ? 'pass' : 'fail');
          hc.appendChild(el('span', 'since', ' ' + ago(e.healthCheck.at, now)));
        }
        const st = stateOf(e);
        const td = cell(tr, st.text, 'state ' + st.cls);
        if (st.since) td.appendChild(el('span', 'since', ' since ' + ago(st.since, now)));
        cell(tr, String(e.requests), 'num');
        cell(tr, String(e.errors), e.errors > 0 ? 'num error' : 'num');
        cell(tr, String(e.inFlight), 'num');
        cell(tr, String(e.weight), 'num');
        rows.push(tr);
      });
    });
    replaceRows('services', rows);
  }

  function renderListeners(listeners) {
    replaceRows('listeners', (listeners || []).map(function (l) {
      const tr = el('tr');
      tr.setAttribute('data-listener', l.name);
      cell(tr, l.name, 'name');
      cell(tr, (l.address.indexOf(':') >= 0 ? '[' + l.address + ']' : l.address) + ':' + l.port, 'match');
      cell(tr, l.tls ? 'yes' : 'no');
      cell(tr, l.protocols.join(', '), 'match');
      cell(tr, String(l.connections), 'num');
      cell(tr, String(l.http2Connections), 'num');
      return tr;
    }));
  }

  let timer = null;

  function refresh() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    Promise.all([getJson('/api/v1/status'), getJson('/api/v1/routes'), getJson('/api/v1/services'), getJson('/api/v1/registry'), getJson('/api/v1/traffic')]).then(
      function (all) {
        const now = all[4].now;
        renderHeader(all[0], all[3], now);
        renderRoutes(all[1], all[4]);
        renderListeners(all[0].listeners);
        renderServices(all[2], now);
        const updated = document.getElementById('updated');
        updated.className = '';
        updated.textContent = 'updated ' + new Date().toLocaleTimeString();
        document.getElementById('logout').hidden = memoryToken === null;
        timer = setTimeout(refresh, INTERVAL_MS);
      },
      function (err) {
        const updated = document.getElementById('updated');
        updated.className = 'error';
        if (err instanceof NeedsToken) {
          // Polling waits for a token: asking again every 2 s with none (or a refused one) is pointless.
          if (err.refused) storeToken(null);
          updated.textContent = 'the admin API needs a token to read';
          showLogin(err.refused);
          return;
        }
        updated.textContent = 'cannot reach the admin API: ' + err.message;
        timer = setTimeout(refresh, INTERVAL_MS);
      }
    );
  }

  refresh();
})();
`;

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2563eb"/><path d="M3 11h4l2-6h4" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>
`;

export interface StaticAsset {
  contentType: string;
  body: string;
}

/** Path → asset for the status page. */
export const STATUS_PAGE_ASSETS: ReadonlyMap<string, StaticAsset> = new Map([
  ['/', { contentType: 'text/html; charset=utf-8', body: HTML }],
  ['/status.js', { contentType: 'text/javascript; charset=utf-8', body: SCRIPT }],
  ['/status.css', { contentType: 'text/css; charset=utf-8', body: CSS }],
  ['/favicon.svg', { contentType: 'image/svg+xml', body: FAVICON }],
]);
