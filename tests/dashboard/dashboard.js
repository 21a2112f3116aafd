// Drives the krelay dashboard (www/) in Debian's Chromium through
// playwright-core, against webadmin in the lab with the real module.
// Run by tests/dashboard_test.sh, which boots the lab and makes traffic.
//
// Environment: DASH_URL (http://127.0.0.1:8080), DASH_PASSWORD (admin's),
// DASH_SHOT (the screenshot's path), CHROMIUM (/usr/bin/chromium).
// Prints one line per check and last "dashboard: N passed, M failed";
// exits 1 when a check failed.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const URL = process.env.DASH_URL || 'http://127.0.0.1:8080';
const PASS = process.env.DASH_PASSWORD;
const SHOT = process.env.DASH_SHOT || 'dashboard.png';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 20000;      // ms: the lab runs under TCG, the dashboard polls every second

let passed = 0;
let failed = 0;

function check(name, ok, expected, got) {
  if (ok) {
    passed++;
    console.log('ok - ' + name);
  } else {
    failed++;
    console.log('not ok - ' + name + ': expected ' + expected + ', got ' + JSON.stringify(got));
  }
  return ok;
}

// waitText SELECTOR PREDICATE: wait until the element's text satisfies pred;
// returns the last text seen (checked by the caller).
async function waitText(page, sel, pred, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  let text = null;
  for (;;) {
    text = await page.locator(sel).first().textContent({ timeout: 2000 }).catch(() => null);
    if (text !== null && pred(text.trim())) return text.trim();
    if (Date.now() > end) return text === null ? null : text.trim();
    await page.waitForTimeout(200);
  }
}

// The API as the page sees it, with the page's credentials.
async function api(page, method, p, body) {
  return page.evaluate(async ([method, p, body]) => {
    const auth = sessionStorage.getItem('krelay-auth');
    const headers = { Authorization: 'Basic ' + auth };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, data: await r.json().catch(() => null) };
  }, [method, p, body]);
}

async function natRows(page) {
  return page.$$eval('#nat-table tbody tr', (trs) => trs.map((tr) =>
    [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
}

async function waitRow(page, pred, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  let rows = [];
  for (;;) {
    rows = await natRows(page);
    const r = rows.find(pred);
    if (r) return { row: r, rows };
    if (Date.now() > end) return { row: null, rows };
    await page.waitForTimeout(250);
  }
}

async function saveGport(page, value) {
  await page.fill('#cfg-gport', String(value));
  await page.click('#cfg-save');
}

async function main() {
  if (!PASS) throw new Error('DASH_PASSWORD is not set');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'krelay-dash-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,         // --no-sandbox: runs as root
    viewport: { width: 1280, height: 900 },
    args: ['--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  // HTTP errors are checked on their own (401 and 400 are expected here):
  // Chromium also logs each one as a console error.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
  const serverErrors = [];
  page.on('response', (r) => { if (r.status() >= 500) serverErrors.push(r.status() + ' ' + r.url()); });
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.type() + ': ' + d.message()); await d.accept(); });

  try {
    // ---- login
    const res = await page.goto(URL + '/', { waitUntil: 'load' });
    check('GET / answers 200', res && res.status() === 200, 200, res && res.status());
    await page.waitForSelector('#login:not([hidden])', { timeout: TIMEOUT });
    check('the login form shows first', await page.isVisible('#login-password'), 'visible', 'hidden');
    await page.fill('#login-password', 'wrong-' + PASS);
    await page.click('#login-submit');
    const wrong = await waitText(page, '#login-error', (t) => t !== '');
    check('a wrong password is refused', wrong === 'Wrong user or password.', '"Wrong user or password."', wrong);
    await page.fill('#login-password', PASS);
    await page.click('#login-submit');
    await page.waitForSelector('#dashboard:not([hidden])', { timeout: TIMEOUT });
    check('the dashboard shows after login', await page.isVisible('#nat-table'), 'visible', 'hidden');

    // ---- status
    const mod = await waitText(page, '#status-module', (t) => t === 'loaded');
    check('module loaded', mod === 'loaded', '"loaded"', mod);
    const started = await waitText(page, '#status-started', (t) => t === 'started');
    check('module started', started === 'started', '"started"', started);
    check('the start toggle is on', await page.isChecked('#start-toggle'), 'checked', 'unchecked');
    const relay = await waitText(page, '#status-relay', (t) => t === 'running');
    check('tcp_relay running', relay === 'running', '"running"', relay);
    const gport0 = await page.inputValue('#cfg-gport');
    check('the config form shows gport 16000', gport0 === '16000', '"16000"', gport0);

    // ---- NAT table: the guest makes a dig and a curl every second
    let w = await waitRow(page, (r) => r[0] === 'UDP' && r[2].startsWith('10.0.0.1:'));
    check('#nat-table shows a UDP flow from 10.0.0.1', !!w.row, 'a row UDP 10.0.0.1:…', w.rows);
    if (w.row) {
      check('UDP row: relay 192.168.0.2:53', w.row[3] === '192.168.0.2:53', '"192.168.0.2:53"', w.row[3]);
      check('UDP row: server 192.168.0.10:53', w.row[4] === '192.168.0.10:53', '"192.168.0.10:53"', w.row[4]);
    }
    w = await waitRow(page, (r) => r[0] === 'TCP' && r[2].startsWith('10.0.0.1:'));
    check('#nat-table shows a TCP flow from 10.0.0.1', !!w.row, 'a row TCP 10.0.0.1:…', w.rows);
    if (w.row) {
      check('TCP row: relay 192.168.0.2:80', w.row[3] === '192.168.0.2:80', '"192.168.0.2:80"', w.row[3]);
      check('TCP row: gport 16000', w.row[5] === '16000', '"16000"', w.row[5]);
    }
    const count = await waitText(page, '#nat-count', (t) => /^\d+/.test(t));
    check('the table header counts the flows', /^[1-9]\d*/.test(count || ''), 'a number > 0', count);
    await page.fill('#nat-filter', 'udp');
    const filtered = await natRows(page);
    check('the filter box keeps only UDP rows', filtered.length > 0 && filtered.every((r) => r[0] === 'UDP'),
      'UDP rows only', filtered.map((r) => r[0]));
    await page.fill('#nat-filter', '');

    // ---- start toggle: off (confirm), then on
    await page.click('label.switch');
    const stopped = await waitText(page, '#status-started', (t) => t === 'stopped');
    check('toggle off: the page says stopped', stopped === 'stopped', '"stopped"', stopped);
    check('toggle off: asked to confirm', dialogs.some((d) => d.startsWith('confirm: Stop relaying')),
      'a confirm dialog', dialogs);
    let st = await api(page, 'GET', '/api/status');
    check('toggle off: /api/status started false', st.data && st.data.module.started === false, false,
      st.data && st.data.module);
    check('toggle off: the toggle is unchecked', !(await page.isChecked('#start-toggle')), 'unchecked', 'checked');
    await page.click('label.switch');
    const restarted = await waitText(page, '#status-started', (t) => t === 'started');
    check('toggle on: the page says started', restarted === 'started', '"started"', restarted);
    st = await api(page, 'GET', '/api/status');
    check('toggle on: /api/status started true', st.data && st.data.module.started === true, true,
      st.data && st.data.module);
    w = await waitRow(page, (r) => r[2].startsWith('10.0.0.1:'));
    check('flows come back after the restart', !!w.row, 'a row from 10.0.0.1', w.rows);

    // ---- configuration: a bad gport (a relayed TCP port), then a good one
    await saveGport(page, 80);
    const err = await waitText(page, '#err-gport', (t) => t !== '');
    check('bad gport 80: inline error on the field', /tcp_ports/.test(err || ''), 'an error naming tcp_ports', err);
    check('bad gport 80: the field is marked invalid',
      await page.$eval('#cfg-gport', (e) => e.classList.contains('invalid')), 'class invalid', 'none');
    const notSaved = await waitText(page, '#cfg-message', (t) => t !== '');
    check('bad gport 80: "Not saved."', notSaved === 'Not saved.', '"Not saved."', notSaved);
    let cfg = await api(page, 'GET', '/api/config');
    check('bad gport 80: gport still 16000', cfg.data && cfg.data.gport === 16000, 16000, cfg.data && cfg.data.gport);

    await saveGport(page, 'abc');
    const local = await waitText(page, '#err-gport', (t) => t !== '');
    check('gport "abc": refused in the page', /integer/.test(local || ''), 'an integer error', local);

    await saveGport(page, 16001);
    const saved = await waitText(page, '#cfg-message', (t) => t === 'Saved.');
    check('gport 16001: "Saved."', saved === 'Saved.', '"Saved."', saved);
    const cleared = await page.textContent('#err-gport');
    check('gport 16001: the inline error is gone', cleared === '', '""', cleared);
    cfg = await api(page, 'GET', '/api/config');
    check('gport 16001: the API says 16001', cfg.data && cfg.data.gport === 16001, 16001, cfg.data && cfg.data.gport);
    w = await waitRow(page, (r) => r[0] === 'TCP' && r[5] === '16001');
    check('a new TCP flow goes to gport 16001', !!w.row, 'a TCP row with gport 16001', w.rows);

    await saveGport(page, 16000);
    const back = await waitText(page, '#cfg-message', (t) => t === 'Saved.');
    check('gport back to 16000: "Saved."', back === 'Saved.', '"Saved."', back);
    cfg = await api(page, 'GET', '/api/config');
    check('gport back to 16000 in the API', cfg.data && cfg.data.gport === 16000, 16000, cfg.data && cfg.data.gport);
    w = await waitRow(page, (r) => r[0] === 'TCP' && r[5] === '16000');
    check('TCP flows go to gport 16000 again', !!w.row, 'a TCP row with gport 16000', w.rows);

    // ---- configuration: the scope, checked in the page, by the server, then set and cleared
    const ifShown = await page.inputValue('#cfg-interfaces');
    check('the config form shows interfaces empty (every interface)', ifShown === '', '""', ifShown);
    await page.fill('#cfg-interfaces', 'rc0/1');
    await page.click('#cfg-save');
    const ifLocal = await waitText(page, '#err-interfaces', (t) => t !== '');
    check('interfaces "rc0/1": refused in the page', /interface names/.test(ifLocal || ''),
      'an interface-name error', ifLocal);
    await page.fill('#cfg-interfaces', 'rc0,rc0');
    await page.click('#cfg-save');
    const ifTwice = await waitText(page, '#err-interfaces', (t) => t !== '');
    check('interfaces "rc0,rc0": the server\'s error on the field', /rc0 listed twice/.test(ifTwice || ''),
      'an error saying rc0 is listed twice', ifTwice);
    await page.fill('#cfg-interfaces', 'rc0, rs+');
    await page.click('#cfg-save');
    const ifSaved = await waitText(page, '#cfg-message', (t) => t === 'Saved.');
    check('interfaces "rc0, rs+": "Saved."', ifSaved === 'Saved.', '"Saved."', ifSaved);
    cfg = await api(page, 'GET', '/api/config');
    check('interfaces in the API: rc0,rs+', cfg.data && cfg.data.interfaces === 'rc0,rs+', 'rc0,rs+',
      cfg.data && cfg.data.interfaces);
    await page.fill('#cfg-interfaces', '');
    await page.click('#cfg-save');
    const ifCleared = await waitText(page, '#cfg-message', (t) => t === 'Saved.');
    check('interfaces emptied: "Saved."', ifCleared === 'Saved.', '"Saved."', ifCleared);
    cfg = await api(page, 'GET', '/api/config');
    check('interfaces in the API: "" (every interface)', cfg.data && cfg.data.interfaces === '', '""',
      cfg.data && cfg.data.interfaces);

    // ---- the picture: let the chart gather a few samples first
    await waitText(page, '#status-pps', (t) => /^\d/.test(t));
    await page.waitForTimeout(3000);
    fs.mkdirSync(path.dirname(SHOT), { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    check('screenshot saved to ' + SHOT, fs.statSync(SHOT).size > 10000, '> 10 kB', fs.statSync(SHOT).size);
    check('no script errors or CSP violations in the page', pageErrors.length === 0, 'none', pageErrors);
    check('no 5xx answer from webadmin', serverErrors.length === 0, 'none', serverErrors);
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  failed++;
  console.log('not ok - the browser script stopped: ' + (e && e.stack || e));
}).finally(() => {
  console.log('dashboard: ' + passed + ' passed, ' + failed + ' failed');
  process.exitCode = failed ? 1 : 0;
});
