/**
 * The status page served by the admin listener at `/`: a static HTML shell and a script that
 * polls the JSON API every two seconds. Every value reaches the page through `textContent`
 * (never innerHTML), and the Content-Security-Policy allows only these same-origin scripts,
 * so a service or route named `<script>` is displayed, not run.
 */

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchyard status</title>
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<header>
  <h1>Switchyard</h1>
  <p id="summary">loading…</p>
  <p id="reload"></p>
</header>
<main>
  <section>
    <h2>Routes</h2>
    <table id="routes">
      <thead><tr><th>Route</th><th>Host</th><th>Path</th><th>Service</th><th>Source</th><th>Requests</th><th>Req/s</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section>
    <h2>Services</h2>
    <table id="services">
      <thead><tr><th>Service</th><th>Endpoint</th><th>Health</th><th>State</th><th>In flight</th><th>Weight</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<footer><span id="updated"></span> · <a href="/metrics">/metrics</a> · <a href="/api/v1/status">API</a></footer>
</body>
</html>
`;

const CSS = `body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2330; }
h1 { margin: 0 0 .25rem; font-size: 1.4rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; min-width: 60%; }
th, td { text-align: left; padding: .3rem .8rem; border-bottom: 1px solid #dde1e8; }
th { background: #f3f5f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.passing, .available { color: #17803d; }
.warning, .drained { color: #a15c00; }
.critical, .unavailable { color: #b42318; font-weight: 600; }
.error { color: #b42318; }
footer { margin-top: 2rem; color: #667085; }
`;

const SCRIPT = `'use strict';
(function () {
  var INTERVAL_MS = 2000;
  var previous = null;

  function cell(row, text, className) {
    var td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function replaceRows(tableId, rows) {
    var body = document.querySelector('#' + tableId + ' tbody');
    body.replaceChildren.apply(body, rows);
  }

  function getJson(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function renderStatus(status) {
    document.getElementById('summary').textContent =
      'version ' + status.version + ' · started ' + status.startedAt + ' · ' + (status.ready ? 'ready' : 'not ready') + ' · config ' + status.configFile;
    var reload = document.getElementById('reload');
    if (status.reload.ok) {
      reload.className = '';
      reload.textContent = 'configuration loaded ' + status.reload.lastSuccessAt;
    } else {
      reload.className = 'error';
      reload.textContent = 'last reload rejected (' + status.reload.at + '): ' + status.reload.error;
    }
  }

  function renderRoutes(routes, now) {
    var rows = routes.map(function (r) {
      var tr = document.createElement('tr');
      cell(tr, r.name);
      cell(tr, r.host === null ? '*' : r.host);
      cell(tr, r.path);
      cell(tr, r.service);
      cell(tr, r.source);
      cell(tr, String(r.requests), 'num');
      var rate = '–';
      if (previous && previous.counts.has(r.name)) {
        var seconds = (now - previous.at) / 1000;
        if (seconds > 0) rate = ((r.requests - previous.counts.get(r.name)) / seconds).toFixed(1);
      }
      cell(tr, rate, 'num rate');
      return tr;
    });
    replaceRows('routes', rows);
    var counts = new Map();
    routes.forEach(function (r) { counts.set(r.name, r.requests); });
    previous = { at: now, counts: counts };
  }

  function renderServices(services) {
    var rows = [];
    services.forEach(function (s) {
      if (s.endpoints.length === 0) {
        var empty = document.createElement('tr');
        cell(empty, s.name);
        cell(empty, 'no endpoints', 'critical');
        cell(empty, ''); cell(empty, ''); cell(empty, ''); cell(empty, '');
        rows.push(empty);
      }
      s.endpoints.forEach(function (e) {
        var tr = document.createElement('tr');
        cell(tr, s.name);
        cell(tr, e.endpoint + (e.id !== e.endpoint ? ' (' + e.id + ')' : ''));
        cell(tr, e.health, e.health);
        var state = e.drained ? 'drained' : e.available ? 'available' : 'unavailable';
        cell(tr, state, state);
        cell(tr, String(e.inFlight), 'num');
        cell(tr, String(e.weight), 'num');
        rows.push(tr);
      });
    });
    replaceRows('services', rows);
  }

  function refresh() {
    Promise.all([getJson('/api/v1/status'), getJson('/api/v1/routes'), getJson('/api/v1/services')]).then(
      function (all) {
        var now = Date.now();
        renderStatus(all[0]);
        renderRoutes(all[1], now);
        renderServices(all[2]);
        var updated = document.getElementById('updated');
        updated.className = '';
        updated.textContent = 'updated ' + new Date(now).toLocaleTimeString();
      },
      function (err) {
        var updated = document.getElementById('updated');
        updated.className = 'error';
        updated.textContent = 'cannot reach the admin API: ' + err.message;
      }
    ).finally(function () { setTimeout(refresh, INTERVAL_MS); });
  }

  refresh();
})();
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
]);
