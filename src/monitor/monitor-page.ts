import { createHash } from 'node:crypto';

/*
 * The monitor page: one static HTML document with its CSS and script inline, no build step.
 * It carries no data: the script fetches /monitor/api/summary (public) and, once the operator
 * has entered the admin token (kept in sessionStorage, sent as a bearer header), the table
 * browser and flag events (/monitor/api/tables, /lookup, /flags). Data is put into the page
 * with textContent only, never as HTML; the Content-Security-Policy admits exactly this script
 * and style (by hash), so an injected one would not run anyway.
 */

const STYLE = String.raw`
:root { color-scheme: light; --ink: #1d232a; --muted: #5c6773; --line: #d9dee4; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 1.5rem; padding: .8rem 1.5rem; background: #24292f; color: #fff; }
header h1 { margin: 0; font-size: 1.15rem; }
header p { margin: 0; color: #d0d7de; }
main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1rem; padding: 1rem 1.5rem; }
.column { display: flex; flex-direction: column; gap: 1rem; min-width: 0; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .8rem 1rem; }
h2 { margin: 0 0 .6rem; font-size: 1rem; }
h3 { margin: .8rem 0 .3rem; font-size: .95rem; display: flex; gap: .5rem; align-items: center; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .2rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { color: var(--muted); font-weight: 600; font-size: .8rem; }
td.num, th.num { text-align: right; }
td.reason { white-space: normal; min-width: 12rem; }
section { overflow-x: auto; }
.facts { margin: 0 0 .4rem; color: var(--muted); }
.pill { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .75rem; font-weight: 600; border: 1px solid currentColor; }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); } .muted { color: var(--muted); }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: 0 0 .5rem; }
input, select, button { font: inherit; padding: .25rem .5rem; border: 1px solid var(--line); border-radius: 4px; }
input#key { flex: 1; min-width: 10rem; }
button { background: #f3f4f6; cursor: pointer; }
button.link { border: 0; background: none; padding: 0; color: #0969da; text-decoration: underline; }
pre { margin: 0; padding: .6rem; background: var(--bg); border: 1px solid var(--line); border-radius: 4px; overflow: auto; max-height: 24rem; }
progress { width: 5rem; vertical-align: middle; }
[hidden] { display: none !important; }
@media (max-width: 1000px) { main { grid-template-columns: 1fr; } }
`;

const SCRIPT = String.raw`
'use strict';
(function () {
  var TOKEN_KEY = 'depositaja.monitor.token';
  var REFRESH_MS = 2000;
  var DEFAULT_TABLE = 'balance-table';
  var state = { unlocked: false, lookup: null, busy: false };

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null) return;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'class') node.className = value;
      else node.setAttribute(name, String(value));
    });
    (children || []).forEach(function (child) {
      if (child === undefined || child === null) return;
      node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    });
    return node;
  }
  function replace(id, node) { var host = $(id); host.textContent = ''; host.appendChild(node); }
  function storedToken() { try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; } }
  function storeToken(value) { try { if (value) sessionStorage.setItem(TOKEN_KEY, value); else sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ } }
  function time(iso) { return iso ? new Date(iso).toLocaleTimeString() : '-'; }
  function dash(value) { return value === null || value === undefined ? '-' : String(value); }

  function api(path, token) {
    var headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    return fetch(path, { headers: headers, cache: 'no-store', credentials: 'omit' }).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = { error: text }; }
        return { status: response.status, body: body };
      });
    });
  }

  function refusal(response) {
    if (response.status === 401) return 'the token was refused';
    if (response.status === 503) return 'admin is disabled on this instance (ADMIN_TOKEN is not set)';
    return (response.body && response.body.error) || ('HTTP ' + response.status);
  }

  function setLocked(message, kind) {
    state.unlocked = false;
    state.lookup = null;
    $('unlock-form').hidden = false;
    $('lock').hidden = true;
    $('lookup-form').hidden = true;
    document.querySelectorAll('.locked-note').forEach(function (note) { note.hidden = false; });
    $('lookup-result').hidden = true;
    $('flags').textContent = '';
    var line = $('access-state');
    line.textContent = message || 'Locked: the summary is public; enter the admin token to browse tables and flag events.';
    line.className = kind || 'muted';
  }

  function setUnlocked(tables) {
    state.unlocked = true;
    $('unlock-form').hidden = true;
    $('lock').hidden = false;
    $('lookup-form').hidden = false;
    document.querySelectorAll('.locked-note').forEach(function (note) { note.hidden = true; });
    $('access-state').textContent = 'Unlocked in this tab (the token is kept in sessionStorage until the tab closes or you lock).';
    $('access-state').className = 'ok';
    var select = $('table');
    var previous = select.value;
    select.textContent = '';
    tables.forEach(function (name) { select.appendChild(el('option', { value: name, text: name })); });
    if (tables.indexOf(previous) >= 0) select.value = previous;
    else if (tables.indexOf(DEFAULT_TABLE) >= 0) select.value = DEFAULT_TABLE;
  }

  function unlock(token, failureMessage) {
    return api('/monitor/api/tables', token).then(function (response) {
      if (response.status === 200) {
        storeToken(token);
        setUnlocked(response.body.tables);
        return refresh();
      }
      storeToken(null);
      setLocked(failureMessage ? failureMessage + ': ' + refusal(response) : refusal(response), 'bad');
    }, function (error) {
      setLocked('Cannot reach the service: ' + error.message, 'bad');
    });
  }

  function renderStatus(summary) {
    var line = $('status');
    var parts = [
      summary.kafka_reachable ? 'Kafka reachable' : 'Kafka UNREACHABLE',
      summary.groups.length + ' group(s)',
      summary.views.length + ' view(s)',
      'up ' + summary.uptime_seconds + ' s',
      'updated ' + time(summary.generated_at),
    ];
    line.textContent = parts.join(' · ');
    line.className = summary.kafka_reachable ? '' : 'bad';
    if (summary.admin === 'disabled' && !state.unlocked) {
      $('access-state').textContent = 'Admin is disabled on this instance (ADMIN_TOKEN is not set): only the summary is shown.';
    }
  }

  function restoreCell(partition) {
    var restore = partition.restore;
    if (!restore) return el('td', { text: partition.state === 'running' ? 'nothing to restore' : 'waiting', class: 'muted' });
    var percent = restore.total > 0 ? Math.floor((100 * restore.done) / restore.total) : 100;
    var text = restore.kind + ' ' + restore.done + '/' + restore.total + ' (' + percent + '%)' + (restore.finished_at ? ' done' : '');
    return el('td', {}, [el('progress', { max: Math.max(1, restore.total), value: restore.done }), ' ', text]);
  }

  function renderGroups(groups) {
    var host = el('div');
    if (groups.length === 0) host.appendChild(el('p', { class: 'muted', text: 'No processor group runs in this process (API only).' }));
    groups.forEach(function (group) {
      var rows = group.partitions.map(function (partition) {
        var lagTitle = Object.keys(partition.lag_by_topic).map(function (topic) { return topic + ': ' + partition.lag_by_topic[topic]; }).join(', ');
        return el('tr', { 'data-partition': partition.partition }, [
          el('td', { class: 'num', text: partition.partition }),
          el('td', {}, [el('span', { class: 'pill ' + (partition.state === 'running' ? 'ok' : 'warn'), text: partition.state })]),
          restoreCell(partition),
          el('td', { class: 'num', text: dash(partition.lag), title: lagTitle || 'no batch processed yet' }),
          el('td', { class: 'num', text: partition.processed }),
          el('td', { class: 'num' + (partition.dead_letters > 0 ? ' bad' : ''), text: partition.dead_letters }),
        ]);
      });
      var table = el('table', { 'aria-label': 'partitions of group ' + group.group }, [
        el('thead', {}, [el('tr', {}, [
          el('th', { class: 'num', text: 'partition' }), el('th', { text: 'state' }), el('th', { text: 'restore' }),
          el('th', { class: 'num', text: 'lag' }), el('th', { class: 'num', text: 'processed' }), el('th', { class: 'num', text: 'dead letters' }),
        ])]),
        el('tbody', {}, rows),
      ]);
      host.appendChild(el('article', { 'aria-label': 'group ' + group.group }, [
        el('h3', {}, [group.group, el('span', { class: 'pill ' + (group.running ? 'ok' : 'bad'), text: group.running ? 'consuming' : 'not consuming' })]),
        el('p', { class: 'facts', text:
          group.partitions.length + ' partition(s) here · ' + group.records_per_second + ' records/s · ' + group.processed + ' processed · lag ' +
          dash(group.lag) + ' · ' + group.dead_letters + ' dead letter(s)' + (group.retrying > 0 ? ' · ' + group.retrying + ' batch(es) retrying' : '') +
          (group.commit_failures > 0 ? ' · offsets not committed: ' + group.commit_failures + ' failed commit(s)' : '') }),
        table,
      ]));
    });
    replace('groups', host);
  }

  function renderViews(views) {
    if (views.length === 0) { replace('views', el('p', { class: 'muted', text: 'No views in this process (processors only).' })); return; }
    var rows = views.map(function (view) {
      return el('tr', { 'data-table': view.table }, [
        el('td', { text: view.table }),
        el('td', {}, [el('span', { class: 'pill ' + (view.state === 'ready' ? 'ok' : 'warn'), text: view.state })]),
        el('td', { class: 'num', text: view.lag }),
        el('td', { class: 'num', text: view.partitions.length }),
      ]);
    });
    replace('views', el('table', { 'aria-label': 'views' }, [
      el('thead', {}, [el('tr', {}, [el('th', { text: 'table' }), el('th', { text: 'state' }), el('th', { class: 'num', text: 'lag' }), el('th', { class: 'num', text: 'partitions' })])]),
      el('tbody', {}, rows),
    ]));
  }

  function renderFlags(response) {
    if (response.status !== 200) { replace('flags', el('p', { class: 'bad', text: refusal(response) })); return; }
    if (!response.body.available) { replace('flags', el('p', { class: 'muted', text: 'This process has no view of the flag table (processors only).' })); return; }
    var events = response.body.events;
    if (events.length === 0) { replace('flags', el('p', { class: 'muted', text: 'No flag changes read since this process started.' })); return; }
    var rows = events.map(function (event) {
      var wallet = el('button', { type: 'button', class: 'link', text: event.wallet_id, title: 'look the wallet up in balance-table' });
      wallet.addEventListener('click', function () { startLookup('balance-table', event.wallet_id); });
      return el('tr', { 'data-wallet': event.wallet_id, title: 'read at ' + time(event.read_at) + ' from partition ' + event.partition + ', offset ' + event.offset }, [
        el('td', {}, [wallet]),
        el('td', {}, [el('span', { class: 'pill ' + (event.flagged ? 'bad' : 'ok'), text: event.flagged ? 'flagged' : 'not flagged' })]),
        el('td', { text: event.source }),
        el('td', { text: time(event.flagged_at) }),
        el('td', { class: 'reason', text: event.reason }),
      ]);
    });
    replace('flags', el('table', { 'aria-label': 'last flag events' }, [
      el('thead', {}, [el('tr', {}, ['wallet', 'flag', 'source', 'flagged at', 'reason'].map(function (name) { return el('th', { text: name }); }))]),
      el('tbody', {}, rows),
    ]));
  }

  function startLookup(table, key) {
    var select = $('table');
    if (Array.prototype.some.call(select.options, function (option) { return option.value === table; })) select.value = table;
    $('key').value = key;
    state.lookup = { table: select.value, key: key };
    return lookup();
  }

  function lookup() {
    var wanted = state.lookup;
    if (!wanted) return Promise.resolve();
    var path = '/monitor/api/lookup?table=' + encodeURIComponent(wanted.table) + '&key=' + encodeURIComponent(wanted.key);
    return api(path, storedToken()).then(function (response) {
      if (state.lookup !== wanted) return;
      if (response.status === 401) { storeToken(null); setLocked('The token was refused; enter it again.', 'bad'); return; }
      $('lookup-result').hidden = false;
      if (response.status === 200) {
        $('lookup-source').textContent = wanted.key + ' in ' + wanted.table + ', from ' + response.body.source +
          (response.body.applied ? ' · applied offsets ' + JSON.stringify(response.body.applied) : '');
        $('lookup-source').className = 'muted';
        $('lookup-value').textContent = JSON.stringify(response.body.value, null, 2);
        $('lookup-value').hidden = false;
      } else {
        $('lookup-source').textContent = refusal(response);
        $('lookup-source').className = response.status === 404 ? 'warn' : 'bad';
        $('lookup-value').textContent = '';
        $('lookup-value').hidden = true;
      }
    });
  }

  function refresh() {
    if (state.busy) return Promise.resolve();
    state.busy = true;
    var work = [api('/monitor/api/summary').then(function (response) {
      if (response.status !== 200) throw new Error(refusal(response));
      renderStatus(response.body);
      renderGroups(response.body.groups);
      renderViews(response.body.views);
    })];
    if (state.unlocked) {
      work.push(api('/monitor/api/flags', storedToken()).then(function (response) {
        if (response.status === 401) { storeToken(null); setLocked('The token was refused; enter it again.', 'bad'); return; }
        if (state.unlocked) renderFlags(response);
      }));
      work.push(lookup());
    }
    return Promise.all(work).catch(function (error) {
      $('status').textContent = 'Cannot read the service: ' + error.message + ' (retrying)';
      $('status').className = 'bad';
    }).then(function () { state.busy = false; });
  }

  $('unlock-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var token = $('token').value.trim();
    $('token').value = '';
    if (token) unlock(token);
  });
  $('lock').addEventListener('click', function () { storeToken(null); setLocked(); });
  $('lookup-form').addEventListener('submit', function (event) {
    event.preventDefault();
    var key = $('key').value.trim();
    if (key) startLookup($('table').value, key);
  });

  setLocked();
  var remembered = storedToken();
  if (remembered) unlock(remembered, 'The remembered token no longer works');
  else refresh();
  setInterval(refresh, REFRESH_MS);
})();
`;

const BODY = `
<header>
  <h1>depositaja monitor</h1>
  <p id="status" role="status">loading…</p>
</header>
<main>
  <div class="column">
    <section aria-labelledby="groups-title">
      <h2 id="groups-title">Processor groups in this process</h2>
      <p class="facts">Lag: records behind the end of the input partition as of its last batch (- before the first one).
        Processed and dead letters: since this instance took the partition.</p>
      <div id="groups"></div>
    </section>
    <section aria-labelledby="views-title">
      <h2 id="views-title">Views (local replicas)</h2>
      <div id="views"></div>
    </section>
  </div>
  <div class="column">
    <section aria-labelledby="access-title">
      <h2 id="access-title">Access</h2>
      <form id="unlock-form">
        <label for="token">Admin token</label>
        <input id="token" type="password" autocomplete="off" spellcheck="false">
        <button type="submit">Unlock</button>
      </form>
      <p id="access-state" class="muted"></p>
      <button id="lock" type="button" hidden>Lock</button>
    </section>
    <section aria-labelledby="browser-title">
      <h2 id="browser-title">Table browser</h2>
      <p class="locked-note muted">Locked: enter the admin token above.</p>
      <form id="lookup-form" hidden>
        <label for="table">Table</label>
        <select id="table"></select>
        <label for="key">Key</label>
        <input id="key" autocomplete="off" spellcheck="false" placeholder="a wallet id, or wallet/h/000000000000001 for history">
        <button type="submit">Look up</button>
      </form>
      <div id="lookup-result" hidden>
        <p id="lookup-source"></p>
        <pre id="lookup-value" aria-label="value"></pre>
      </div>
    </section>
    <section aria-labelledby="flags-title">
      <h2 id="flags-title">Last flag events</h2>
      <p class="locked-note muted">Locked: enter the admin token above.</p>
      <div id="flags"></div>
    </section>
  </div>
</main>
`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page, as served. */
export const MONITOR_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>depositaja monitor</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/** Response headers of the page: only its own script and style run, nothing frames it. */
export const MONITOR_PAGE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': [
    "default-src 'none'",
    `script-src ${hash(SCRIPT)}`,
    `style-src ${hash(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};
