// krelay dashboard: plain JS, no external resources (CSP default-src 'self').
'use strict';

(function () {
  const KNOBS = ['gport', 'real_ip', 'tcp_ports', 'udp_ports', 'max_entries',
    'max_per_client', 'udp_timeout', 'udp_stream_timeout', 'tcp_timeout_established',
    'tcp_timeout_close', 'interfaces', 'client_cc', 'server_cc', 'relay_max_pairs',
    'relay_max_per_client', 'relay_idle_timeout', 'relay_connect_timeout', 'tcp_mode'];
  const RANGES = {
    gport: [1, 65535], max_entries: [1, 4194304], max_per_client: [0, 4194304],
    udp_timeout: [1, 86400], udp_stream_timeout: [1, 86400],
    tcp_timeout_established: [1, 864000], tcp_timeout_close: [1, 864000],
    relay_max_pairs: [1, 65536], relay_max_per_client: [1, 65536],
    relay_idle_timeout: [1, 864000], relay_connect_timeout: [1, 3600],
  };
  const HISTORY = 300;          // samples, one a second: five minutes
  const AUTH_KEY = 'krelay-auth';

  const $ = (id) => document.getElementById(id);
  let auth = sessionStorage.getItem(AUTH_KEY);
  let timer = null;
  let loaded = false;
  let config = null;            // last config from the server
  const dirty = new Set();      // fields the user edited since
  let natRows = [];
  let natTotal = null;          // entries in the table, when known
  let natError = '';
  // Paging: where the shown page starts ('' the first) and where the next
  // one does (null: none). The API walks the table by cursor, not offset.
  const NAT_PAGE = 1000;
  let natCursor = '';
  let natNext = null;
  let natPage = 1;
  let sortKey = 'idle_s';
  let sortDir = 1;
  let lastPackets = null;
  const history = [];

  // ---- HTTP ---------------------------------------------------------------

  // credentials: 'omit' keeps the browser's own password prompt away; the
  // Authorization header is ours.
  // signingIn: a 401 is the login form's answer, not a lost session.
  async function api(method, path, body, signingIn) {
    const headers = { Accept: 'application/json' };
    if (auth) headers.Authorization = 'Basic ' + auth;
    if (method !== 'GET') headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method, headers, credentials: 'omit', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401 && !signingIn) showLogin('Please sign in again.');
    return { status: res.status, data };
  }

  // ---- login --------------------------------------------------------------

  function showLogin(msg) {
    stopPolling();
    auth = null;
    sessionStorage.removeItem(AUTH_KEY);
    $('dashboard').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = msg || '';
    $('status-line').textContent = '';
    $('login-password').focus();
  }

  function showDashboard() {
    $('login').hidden = true;
    $('dashboard').hidden = false;
    $('logout').hidden = false;
    startPolling();
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = $('login-user').value.trim() || 'admin';
    const pass = $('login-password').value;
    auth = btoa(unescape(encodeURIComponent(user + ':' + pass)));
    $('login-submit').disabled = true;
    try {
      const r = await api('GET', '/api/status', undefined, true);
      if (r.status === 200) {
        sessionStorage.setItem(AUTH_KEY, auth);
        $('login-password').value = '';
        $('login-error').textContent = '';
        showDashboard();
      } else {
        auth = null;
        $('login-error').textContent = r.status === 401 ? 'Wrong user or password.' :
          'Server answered ' + r.status + '.';
      }
    } catch (e) {
      auth = null;
      $('login-error').textContent = 'Cannot reach webadmin.';
    } finally {
      $('login-submit').disabled = false;
    }
  });

  $('logout').addEventListener('click', () => showLogin(''));

  // ---- polling ------------------------------------------------------------

  function startPolling() {
    if (!timer) {
      refresh();
      timer = setInterval(refresh, 1000);
    }
  }

  function stopPolling() {
    clearInterval(timer);
    timer = null;
  }

  async function refresh() {
    try {
      const st = await api('GET', '/api/status');
      if (st.status !== 200 || !st.data) return;
      renderStatus(st.data);
      let entries = statsEntries(st.data.stats || {});
      natError = '';
      natRows = [];
      $('nat-count').textContent = '';
      if (loaded) {
        let nat = await api('GET', natUrl());
        if (nat.status === 400 && natCursor) {
          natGo('', 1);       // a stale cursor (module reloaded): start over
          nat = await api('GET', natUrl());
        }
        if (nat.status === 200 && nat.data) {
          natRows = nat.data.entries;
          natNext = nat.data.next;
          entries = nat.data.count;
          const paged = natPage > 1 || natNext !== null;
          $('nat-count').textContent = nat.data.count + (paged ?
            ' (page ' + natPage + ': ' + natRows.length + ')' : '');
        } else {
          natError = (nat.data && nat.data.error) || 'cannot read the table (' + nat.status + ')';
        }
      }
      natTotal = entries;
      renderNat();
      sample(st.data.stats || {}, entries);
      $('status-line').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      $('status-line').textContent = 'webadmin unreachable';
    }
  }

  // ---- status ---------------------------------------------------------------

  function badge(el, text, kind) {
    el.textContent = text;
    el.className = 'tile-value badge ' + (kind || '');
  }

  function renderStatus(s) {
    loaded = !!(s.module && s.module.loaded);
    const started = loaded && s.module.started;
    badge($('status-module'), loaded ? 'loaded' : 'not loaded', loaded ? 'ok' : 'bad');
    const toggle = $('start-toggle');
    toggle.disabled = !loaded;
    if (!toggle.dataset.busy) toggle.checked = !!started;
    $('status-started').textContent = !loaded ? 'module not loaded' : started ? 'started' : 'stopped';

    const tr = s.tcp_relay || {};
    badge($('status-relay'), tr.running ? 'running' : 'not running', tr.running ? 'ok' : 'warn');
    const parts = [];
    if (tr.pid) parts.push('pid ' + tr.pid);
    if (tr.supervised) parts.push(tr.restarts + ' restart' + (tr.restarts === 1 ? '' : 's'));
    else parts.push('not supervised');
    // Whether krelay steers to a registered listener, and on which port.
    const lp = s.stats && s.stats.listener_port;
    if (loaded && lp !== undefined) {
      const gp = s.config && s.config.gport;
      parts.push(!lp ? 'no listener registered: TCP clients refused'
        : lp === gp ? 'listener on :' + lp
        : 'listener on :' + lp + ', gport ' + gp + ' not yet');
    }
    $('status-relay-detail').textContent = parts.join(' · ');

    const cfg = s.config;
    $('status-limit').textContent = cfg && cfg.max_entries ? 'limit ' + fmt(cfg.max_entries) : '';
    if (cfg) fillConfig(cfg);
    setFormEnabled(loaded);
    renderCounters(s.stats || {});
  }

  function fmt(n) {
    if (n === null || n === undefined) return '–';
    return Number(n).toLocaleString('en-US');
  }

  function fmtBytes(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : n) + ' ' + u[i];
  }

  function fmtSecs(s) {
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
    return Math.floor(s / 3600) + 'h' + String(Math.floor(s / 60) % 60).padStart(2, '0') + 'm';
  }

  function renderCounters(stats) {
    const dl = $('counters');
    const keys = Object.keys(stats);
    dl.replaceChildren();
    if (!keys.length) {
      const p = document.createElement('p');
      p.className = 'muted';
      p.textContent = loaded ? 'No counters.' : 'Counters appear when the module is loaded.';
      dl.appendChild(p);
      return;
    }
    for (const k of keys) {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = k;
      dd.textContent = fmt(stats[k]);
      div.append(dt, dd);
      dl.appendChild(div);
    }
  }

  // ---- start/stop -----------------------------------------------------------

  $('start-toggle').addEventListener('change', async (ev) => {
    const t = ev.target;
    const want = t.checked;
    if (!want && !confirm('Stop relaying? Relayed connections are cut and the NAT table is flushed.')) {
      t.checked = true;
      return;
    }
    t.dataset.busy = '1';
    t.disabled = true;
    try {
      const r = await api('PUT', '/api/start', { started: want });
      if (r.status !== 200) {
        t.checked = !want;
        alert((r.data && r.data.error) || 'Failed: ' + r.status);
      }
    } finally {
      delete t.dataset.busy;
      t.disabled = !loaded;
      refresh();
    }
  });

  // ---- configuration ----------------------------------------------------------

  function knobText(k, v) {
    if (v === null || v === undefined) return '';
    return Array.isArray(v) ? v.join(',') : String(v);
  }

  function fillConfig(cfg) {
    config = cfg;
    for (const k of KNOBS) {
      if (dirty.has(k)) continue;
      const el = $('cfg-' + k);
      if (document.activeElement !== el) el.value = knobText(k, cfg[k]);
    }
  }

  function setFormEnabled(on) {
    for (const k of KNOBS) $('cfg-' + k).disabled = !on;
    $('cfg-save').disabled = !on;
    $('cfg-reset').disabled = !on;
    $('nat-flush').disabled = !on;
    if (!on) $('cfg-message').textContent = 'The module is not loaded.';
    else if ($('cfg-message').textContent === 'The module is not loaded.') $('cfg-message').textContent = '';
  }

  function setFieldError(k, msg) {
    const el = $('cfg-' + k);
    const err = $('err-' + k);
    if (!el || !err) return false;
    el.classList.toggle('invalid', !!msg);
    el.parentElement.classList.toggle('has-error', !!msg);
    err.textContent = msg || '';
    return true;
  }

  function clearErrors() {
    for (const k of KNOBS) setFieldError(k, '');
  }

  // The server checks everything again; this only saves a round trip.
  function parseField(k, text) {
    text = text.trim();
    if (k === 'real_ip') {
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text) || text.split('.').some((o) => +o > 255))
        throw new Error('not a dotted IPv4 address');
      return text;
    }
    if (k === 'tcp_ports' || k === 'udp_ports') {
      const ports = text.split(',').map((p) => p.trim());
      if (!ports.length || ports.length > 16 || ports.some((p) => !/^\d+$/.test(p) || +p < 1 || +p > 65535))
        throw new Error('a list of 1 to 16 ports from 1 to 65535');
      return ports.map(Number);
    }
    if (k === 'interfaces') {
      if (text === '') return '';           // every interface
      const names = text.split(',').map((n) => n.trim());
      if (names.length > 8 || names.some((n) => !/^[!-~]{1,15}$/.test(n) || /[/:]/.test(n) ||
          ['', '.', '..'].includes(n.replace(/\+$/, ''))))
        throw new Error('empty for all, or 1 to 8 interface names (eth1, eth+)');
      return names.join(',');
    }
    if (k === 'tcp_mode') {
      if (text !== 'user' && text !== 'kernel') throw new Error('user or kernel');
      return text;
    }
    if (k === 'client_cc' || k === 'server_cc') {
      if (!/^[A-Za-z0-9_-]{0,15}$/.test(text))
        throw new Error('empty for the system default, or a congestion control (cubic, bbr)');
      return text;
    }
    const [lo, hi] = RANGES[k];
    if (!/^\d+$/.test(text) || +text < lo || +text > hi)
      throw new Error('an integer from ' + lo + ' to ' + hi);
    return Number(text);
  }

  // (a select tells its choice by change; text fields by input as typed)
  for (const k of KNOBS) {
    for (const ev of ['input', 'change']) {
      $('cfg-' + k).addEventListener(ev, () => {
        dirty.add(k);
        setFieldError(k, '');
        $('cfg-message').textContent = '';
      });
    }
  }

  $('cfg-reset').addEventListener('click', () => {
    dirty.clear();
    clearErrors();
    $('cfg-message').textContent = '';
    if (config) fillConfig(config);
  });

  $('cfg-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    const msg = $('cfg-message');
    msg.className = '';
    const body = {};
    let bad = false;
    for (const k of KNOBS) {
      if (!dirty.has(k)) continue;
      try {
        body[k] = parseField(k, $('cfg-' + k).value);
      } catch (e) {
        setFieldError(k, e.message);
        bad = true;
      }
    }
    if (bad) {
      msg.textContent = 'Fix the marked fields.';
      msg.className = 'bad';
      return;
    }
    if (!Object.keys(body).length) {
      msg.textContent = 'Nothing changed.';
      return;
    }
    $('cfg-save').disabled = true;
    try {
      const r = await api('PUT', '/api/config', body);
      if (r.status === 200) {
        dirty.clear();
        fillConfig(r.data);
        msg.textContent = 'Saved.';
        msg.className = 'ok';
      } else {
        const err = (r.data && r.data.error) || ('Failed: ' + r.status);
        const field = r.data && r.data.field;
        const short = field ? err.replace(field + ': ', '') : err;
        if (!field || !setFieldError(field, short)) {
          msg.textContent = err;
        } else {
          msg.textContent = 'Not saved.';
          $('cfg-' + field).focus();
        }
        msg.className = 'bad';
      }
    } finally {
      $('cfg-save').disabled = !loaded;
    }
  });

  // ---- NAT table ----------------------------------------------------------

  function sortValue(row, key) {
    const v = row[key];
    if (v && typeof v === 'object') return v.orig + v.reply;
    if (key === 'client' || key === 'relay' || key === 'server') {
      if (!v) return '';
      const [ip, port] = v.split(':');
      return ip.split('.').map((o) => o.padStart(3, '0')).join('.') + ':' + port.padStart(5, '0');
    }
    return v === null || v === undefined ? -1 : v;
  }

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function renderNat() {
    const q = $('nat-filter').value.trim().toLowerCase();
    let rows = natRows;
    if (q) {
      rows = rows.filter((r) => [r.proto, r.state, r.client, r.relay, r.server, r.gport, r.relay_port]
        .some((v) => v !== null && String(v).toLowerCase().includes(q)));
    }
    rows = rows.slice().sort((a, b) => {
      const x = sortValue(a, sortKey), y = sortValue(b, sortKey);
      return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
    });
    const body = $('nat-body');
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = document.createElement('tr');
      cell(tr, r.proto.toUpperCase());
      const st = document.createElement('span');
      st.className = 'state ' + r.state;
      st.textContent = r.state;
      cell(tr, '').appendChild(st);
      cell(tr, r.client, 'addr');
      cell(tr, r.relay, 'addr');
      cell(tr, r.server || '–', 'addr');
      cell(tr, r.gport === null ? '–' : r.gport, 'num');
      cell(tr, r.relay_port === null ? '–' : r.relay_port, 'num');
      cell(tr, fmtSecs(r.age_s), 'num');
      cell(tr, fmtSecs(r.idle_s), 'num');
      cell(tr, fmt(r.packets.orig) + ' / ' + fmt(r.packets.reply), 'num');
      cell(tr, fmtBytes(r.bytes.orig) + ' / ' + fmtBytes(r.bytes.reply), 'num');
      const del = document.createElement('button');
      del.className = 'link';
      del.title = 'Remove this flow';
      del.textContent = '✕';
      del.addEventListener('click', () => removeFlow(r));
      cell(tr, '').appendChild(del);
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    $('nat-empty').hidden = rows.length > 0;
    $('nat-empty').textContent = !loaded ? 'The module is not loaded.' :
      natError ? 'NAT table unavailable: ' + natError :
      natRows.length ? 'No flow matches the filter.' : 'No flows.';
    $('nat-empty').classList.toggle('error', !!natError);
    $('status-entries').textContent = loaded && natTotal !== null ? fmt(natTotal) : '–';
    renderPaging();
  }

  function natUrl() {
    return '/api/nat?limit=' + NAT_PAGE + (natCursor ? '&cursor=' + encodeURIComponent(natCursor) : '');
  }

  function natGo(cursor, page) {
    natCursor = cursor;
    natPage = page;
    natNext = null;
  }

  function renderPaging() {
    $('nat-first').disabled = !natCursor;
    $('nat-next').disabled = natNext === null || natNext === undefined;
  }

  // The module's entries_tcp/entries_udp counters, when it has them.
  function statsEntries(stats) {
    if (!('entries_tcp' in stats) && !('entries_udp' in stats)) return null;
    return (stats.entries_tcp || 0) + (stats.entries_udp || 0);
  }

  async function removeFlow(r) {
    const q = 'proto=' + encodeURIComponent(r.proto) + '&client=' + encodeURIComponent(r.client);
    const res = await api('DELETE', '/api/nat?' + q);
    if (res.status !== 200) alert((res.data && res.data.error) || 'Failed: ' + res.status);
    refresh();
  }

  $('nat-flush').addEventListener('click', async () => {
    if (!confirm('Remove every flow from the NAT table?')) return;
    const res = await api('DELETE', '/api/nat?all=1');
    if (res.status !== 200) alert((res.data && res.data.error) || 'Failed: ' + res.status);
    refresh();
  });

  $('nat-filter').addEventListener('input', renderNat);
  $('nat-next').addEventListener('click', () => {
    if (natNext === null) return;
    natGo(natNext, natPage + 1);
    refresh();
  });
  $('nat-first').addEventListener('click', () => {
    natGo('', 1);
    refresh();
  });

  for (const th of document.querySelectorAll('#nat-table th[data-key]')) {
    th.addEventListener('click', () => {
      const key = th.dataset.key;
      sortDir = key === sortKey ? -sortDir : 1;
      sortKey = key;
      for (const o of document.querySelectorAll('#nat-table th')) o.classList.remove('sorted-asc', 'sorted-desc');
      th.classList.add(sortDir > 0 ? 'sorted-asc' : 'sorted-desc');
      renderNat();
    });
  }

  // ---- chart --------------------------------------------------------------

  function sample(stats, entries) {
    const now = performance.now() / 1000;
    let total = 0;
    for (const [k, v] of Object.entries(stats)) if (k.startsWith('translated_')) total += v;
    let pps = null;
    if (lastPackets && total >= lastPackets.total && now > lastPackets.t)
      pps = (total - lastPackets.total) / (now - lastPackets.t);
    lastPackets = { t: now, total };
    $('status-pps').textContent = pps === null ? '–' : fmt(Math.round(pps));
    history.push({ pps, entries });
    while (history.length > HISTORY) history.shift();
    drawChart();
  }

  // A top for the axis whose quarters are whole numbers.
  function niceMax(v) {
    for (const m of [4, 8, 12]) if (v <= m) return m;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1.2, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function drawChart() {
    const cv = $('chart');
    const dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth, h = cv.clientHeight;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr);
      cv.height = Math.round(h * dpr);
    }
    const g = cv.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pad = { l: 44, r: 44, t: 10, b: 22 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const maxP = niceMax(Math.max(0, ...history.map((s) => s.pps || 0)));
    const maxE = niceMax(Math.max(0, ...history.map((s) => s.entries || 0)));

    g.font = '11px system-ui, sans-serif';
    g.strokeStyle = '#e3e7ef';
    g.fillStyle = '#6b7486';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = pad.t + ph - (ph * i) / 4 + 0.5;
      g.beginPath();
      g.moveTo(pad.l, y);
      g.lineTo(pad.l + pw, y);
      g.stroke();
      g.textAlign = 'right';
      g.fillText(fmt((maxP * i) / 4), pad.l - 6, y + 4);
      g.textAlign = 'left';
      g.fillText(fmt((maxE * i) / 4), pad.l + pw + 6, y + 4);
    }
    g.textAlign = 'left';
    g.fillText('−5 min', pad.l, h - 6);
    g.textAlign = 'right';
    g.fillText('now', pad.l + pw, h - 6);

    const line = (key, max, color, fill) => {
      const n = history.length;
      g.beginPath();
      let started = false, first = null, last = null;
      for (let i = 0; i < n; i++) {
        const v = history[i][key];
        if (v === null || v === undefined) continue;
        const x = pad.l + pw - ((n - 1 - i) * pw) / (HISTORY - 1);
        const y = pad.t + ph - (ph * v) / max;
        if (!started) { g.moveTo(x, y); started = true; first = x; } else g.lineTo(x, y);
        last = x;
      }
      if (!started) return;
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.stroke();
      if (fill) {
        g.lineTo(last, pad.t + ph);
        g.lineTo(first, pad.t + ph);
        g.closePath();
        g.fillStyle = fill;
        g.fill();
      }
    };
    line('entries', maxE, '#f59e0b', null);
    line('pps', maxP, '#2563eb', 'rgba(37, 99, 235, 0.08)');
  }

  window.addEventListener('resize', drawChart);

  // ---- start ----------------------------------------------------------------

  if (auth) showDashboard();
  else showLogin('');
  drawChart();
})();
