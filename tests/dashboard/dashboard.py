#!/usr/bin/python3
"""Drives the krelay dashboard (www/) in Debian's Chromium through
chromedriver and python3-selenium (4.x), against webadmin in the lab with
the real module. Run by tests/dashboard_test.sh, which boots the lab and
makes traffic. Run it with /usr/bin/python3 (Debian's selenium).

Environment: DASH_URL (http://127.0.0.1:8080), DASH_PASSWORD (admin's),
DASH_SHOT (the screenshot's path), CHROMIUM (/usr/bin/chromium),
CHROMEDRIVER (/usr/bin/chromedriver).
Prints one line per check and last "dashboard: N passed, M failed";
exits 1 when a check failed.
"""

import base64
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ.get('DASH_URL') or 'http://127.0.0.1:8080'
PASS = os.environ.get('DASH_PASSWORD') or ''
SHOT = os.environ.get('DASH_SHOT') or 'dashboard.png'
# A file whose creation makes the guest fill the NAT table past a page.
FLOOD = os.environ.get('DASH_FLOOD') or ''
CHROMIUM = os.environ.get('CHROMIUM') or '/usr/bin/chromium'
CHROMEDRIVER = os.environ.get('CHROMEDRIVER') or '/usr/bin/chromedriver'
TIMEOUT = 20.0      # s: the lab runs under TCG, the dashboard polls every second
VIEWPORT = (1280, 900)

passed = 0
failed = 0


def js(v):
    """A value as JavaScript's String() shows it (the expected side)."""
    if v is True or v is False:
        return 'true' if v else 'false'
    return 'null' if v is None else str(v)


def check(name, ok, expected, got):
    global passed, failed
    ok = bool(ok)
    if ok:
        passed += 1
        print('ok - ' + name, flush=True)
    else:
        failed += 1
        print('not ok - ' + name + ': expected ' + js(expected) + ', got ' +
              json.dumps(got, ensure_ascii=False, separators=(',', ':')), flush=True)
    return ok


class Page:
    """The browser and what it saw: script errors and CSP violations (the
    browser log), answers and dialogs (the performance log: DevTools'
    Network and Page events, recorded by chromedriver)."""

    def __init__(self, driver):
        self.d = driver
        self.page_errors = []
        self.server_errors = []
        self.documents = []     # (url, status) of each document loaded
        self.dialogs = []       # 'TYPE: MESSAGE', as each dialog opened

    def drain(self):
        for e in self.d.get_log('browser'):
            # HTTP errors are checked on their own (401 and 400 are expected
            # here): Chromium also logs each one as "URL - Failed to load
            # resource: ..." (source network).
            if e.get('level') == 'SEVERE' and 'Failed to load resource' not in e.get('message', ''):
                self.page_errors.append(e.get('message'))
        for e in self.d.get_log('performance'):
            try:
                m = json.loads(e['message'])['message']
            except (KeyError, TypeError, ValueError):
                continue
            p = m.get('params') or {}
            if m.get('method') == 'Network.responseReceived':
                r = p.get('response') or {}
                status = r.get('status')
                if isinstance(status, (int, float)) and status >= 500:
                    self.server_errors.append('%d %s' % (status, r.get('url')))
                if p.get('type') == 'Document':
                    self.documents.append((r.get('url'), status))
            elif m.get('method') == 'Page.javascriptDialogOpening':
                self.dialogs.append('%s: %s' % (p.get('type'), p.get('message')))

    def accept_dialog(self, timeout=TIMEOUT):
        """Wait for a JavaScript dialog, accept it, return its text (None
        when none came)."""
        end = time.monotonic() + timeout
        while True:
            try:
                alert = self.d.switch_to.alert
                text = alert.text
                alert.accept()
                break
            except NoAlertPresentException:
                if time.monotonic() > end:
                    return None
                time.sleep(0.1)
        self.drain()
        if not any(d.endswith(': ' + text) for d in self.dialogs):
            self.dialogs.append('dialog: ' + text)      # not in the log: type unknown
        return text

    def text(self, sel):
        """The first match's textContent, or None when nothing matches."""
        return self.d.execute_script(
            'const e = document.querySelector(arguments[0]);'
            'return e ? e.textContent : null;', sel)

    def wait_text(self, sel, pred, timeout=TIMEOUT):
        """Wait until the element's text (trimmed) satisfies pred; returns
        the last text seen (checked by the caller)."""
        end = time.monotonic() + timeout
        while True:
            self.drain()
            text = self.text(sel)
            if text is not None:
                text = text.strip()
                if pred(text):
                    return text
            if time.monotonic() > end:
                return text
            time.sleep(0.2)

    def wait_visible(self, sel, timeout=TIMEOUT):
        def shown(d):
            els = d.find_elements(By.CSS_SELECTOR, sel)
            return els[0] if els and els[0].is_displayed() else False
        return WebDriverWait(self.d, timeout, poll_frequency=0.2).until(
            shown, 'no visible ' + sel + ' after %g s' % timeout)

    def wait_actionable(self, sel, timeout=TIMEOUT):
        def ready(d):
            els = d.find_elements(By.CSS_SELECTOR, sel)
            return els[0] if els and els[0].is_displayed() and els[0].is_enabled() else False
        return WebDriverWait(self.d, timeout, poll_frequency=0.2).until(
            ready, sel + ' not visible and enabled after %g s' % timeout)

    def visible(self, sel):
        els = self.d.find_elements(By.CSS_SELECTOR, sel)
        return bool(els) and els[0].is_displayed()

    def prop(self, sel, name):
        return self.d.find_element(By.CSS_SELECTOR, sel).get_property(name)

    def click(self, sel):
        self.wait_actionable(sel).click()

    def fill(self, sel, value):
        """Replace the field's text as a user would (select all, delete,
        type): the page sees input events."""
        el = self.wait_actionable(sel)
        if el.get_property('value') != '':
            el.send_keys(Keys.CONTROL, 'a')
            el.send_keys(Keys.BACKSPACE)
        if value != '':
            el.send_keys(value)
        got = el.get_property('value')
        if got != value:
            raise RuntimeError('fill %s: the field holds %r, not %r' % (sel, got, value))

    def api(self, method, path, body=None):
        """The API as the page sees it, with the page's credentials."""
        return self.d.execute_async_script('''
            const [method, p, body, done] = arguments;
            const auth = sessionStorage.getItem('krelay-auth');
            const headers = { Authorization: 'Basic ' + auth };
            if (body !== null) headers['Content-Type'] = 'application/json';
            fetch(p, { method, headers, body: body === null ? undefined : JSON.stringify(body) })
              .then(async (r) => done({ status: r.status, data: await r.json().catch(() => null) }))
              .catch((e) => done({ status: null, data: null, error: String(e) }));
        ''', method, path, body)

    def nat_rows(self):
        return self.d.execute_script('''
            return [...document.querySelectorAll('#nat-table tbody tr')].map((tr) =>
              [...tr.querySelectorAll('td')].map((td) => td.textContent.trim()));
        ''')

    def wait_row(self, pred, timeout=TIMEOUT):
        end = time.monotonic() + timeout
        while True:
            self.drain()
            rows = self.nat_rows()
            for r in rows:
                if pred(r):
                    return r, rows
            if time.monotonic() > end:
                return None, rows
            time.sleep(0.25)

    def toggle(self):
        """Click the start switch once the page has enabled it."""
        WebDriverWait(self.d, TIMEOUT, poll_frequency=0.2).until(
            lambda d: not d.find_element(By.CSS_SELECTOR, '#start-toggle').get_property('disabled'),
            '#start-toggle still disabled after %g s' % TIMEOUT)
        self.click('label.switch')

    def save_field(self, name, value):
        """Type value into the config form's field name, then Save."""
        self.fill('#cfg-' + name, str(value))
        self.click('#cfg-save')

    def choose(self, sel, value):
        """Pick an option of a select as a user would (change and input
        events)."""
        Select(self.wait_actionable(sel)).select_by_value(value)

    def save_gport(self, value):
        self.save_field('gport', value)

    def set_viewport(self, width, height):
        """Size the window so that the page's viewport is width x height
        (headless Chromium keeps room for a window frame)."""
        self.d.set_window_size(width, height)
        iw, ih, ow, oh = self.d.execute_script(
            'return [innerWidth, innerHeight, outerWidth, outerHeight];')
        if (iw, ih) != (width, height):
            self.d.set_window_size(width + ow - iw, height + oh - ih)
            iw, ih = self.d.execute_script('return [innerWidth, innerHeight];')
        return iw, ih

    def screenshot(self, path):
        """The whole page, beyond the viewport (DevTools' captureScreenshot)."""
        m = self.d.execute_cdp_cmd('Page.getLayoutMetrics', {})
        size = m.get('cssContentSize') or m['contentSize']
        shot = self.d.execute_cdp_cmd('Page.captureScreenshot', {
            'format': 'png', 'captureBeyondViewport': True, 'fromSurface': True,
            'clip': {'x': 0, 'y': 0, 'width': max(math.ceil(size['width']), VIEWPORT[0]),
                     'height': math.ceil(size['height']), 'scale': 1}})
        with open(path, 'wb') as f:
            f.write(base64.b64decode(shot['data']))


def launch(profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ['--headless=new',
              '--no-sandbox',                   # runs as root
              '--user-data-dir=' + profile,
              '--window-size=%d,%d' % VIEWPORT,
              '--hide-scrollbars',              # the screenshot is 1280 wide
              '--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update', '--disable-sync',
              # Nothing but loopback: every other request goes to a dead proxy
              # (Chromium never sends loopback through a proxy).
              '--proxy-server=127.0.0.1:9']:
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'})
    opts.add_experimental_option('perfLoggingPrefs', {'enableNetwork': True, 'enablePage': True})
    # A dialog nobody waits for is accepted when the next command comes (it
    # is in the performance log all the same).
    opts.unhandled_prompt_behavior = 'accept'
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_script_timeout(TIMEOUT)
    driver.set_page_load_timeout(60)
    return driver


def run(page):
    # ---- login
    page.d.get(URL + '/')
    page.drain()
    status = next((s for u, s in reversed(page.documents) if u == URL + '/'), None)
    check('GET / answers 200', status == 200, 200, status)
    page.wait_visible('#login:not([hidden])')
    check('the login form shows first', page.visible('#login-password'), 'visible', 'hidden')
    page.fill('#login-password', 'wrong-' + PASS)
    page.click('#login-submit')
    wrong = page.wait_text('#login-error', lambda t: t != '')
    check('a wrong password is refused', wrong == 'Wrong user or password.',
          '"Wrong user or password."', wrong)
    page.fill('#login-password', PASS)
    page.click('#login-submit')
    page.wait_visible('#dashboard:not([hidden])')
    check('the dashboard shows after login', page.visible('#nat-table'), 'visible', 'hidden')

    # ---- status
    mod = page.wait_text('#status-module', lambda t: t == 'loaded')
    check('module loaded', mod == 'loaded', '"loaded"', mod)
    started = page.wait_text('#status-started', lambda t: t == 'started')
    check('module started', started == 'started', '"started"', started)
    check('the start toggle is on', page.prop('#start-toggle', 'checked'), 'checked', 'unchecked')
    relay = page.wait_text('#status-relay', lambda t: t == 'running')
    check('tcp_relay running', relay == 'running', '"running"', relay)
    gport0 = page.prop('#cfg-gport', 'value')
    check('the config form shows gport 16000', gport0 == '16000', '"16000"', gport0)

    # ---- NAT table: the guest makes a dig and a curl every second
    row, rows = page.wait_row(lambda r: r[0] == 'UDP' and r[2].startswith('10.0.0.1:'))
    check('#nat-table shows a UDP flow from 10.0.0.1', row, 'a row UDP 10.0.0.1:…', rows)
    if row:
        check('UDP row: relay 192.168.0.2:53', row[3] == '192.168.0.2:53', '"192.168.0.2:53"', row[3])
        check('UDP row: server 192.168.0.10:53', row[4] == '192.168.0.10:53', '"192.168.0.10:53"', row[4])
    row, rows = page.wait_row(lambda r: r[0] == 'TCP' and r[2].startswith('10.0.0.1:'))
    check('#nat-table shows a TCP flow from 10.0.0.1', row, 'a row TCP 10.0.0.1:…', rows)
    if row:
        check('TCP row: relay 192.168.0.2:80', row[3] == '192.168.0.2:80', '"192.168.0.2:80"', row[3])
        check('TCP row: gport 16000', row[5] == '16000', '"16000"', row[5])
    count = page.wait_text('#nat-count', lambda t: re.match(r'\d+', t) is not None)
    check('the table header counts the flows', re.match(r'[1-9]\d*', count or ''),
          'a number > 0', count)
    page.fill('#nat-filter', 'udp')
    filtered = page.nat_rows()
    check('the filter box keeps only UDP rows', filtered and all(r[0] == 'UDP' for r in filtered),
          'UDP rows only', [r[0] for r in filtered])
    page.fill('#nat-filter', '')

    # ---- start toggle: off (confirm), then on
    page.toggle()
    page.accept_dialog()
    stopped = page.wait_text('#status-started', lambda t: t == 'stopped')
    check('toggle off: the page says stopped', stopped == 'stopped', '"stopped"', stopped)
    check('toggle off: asked to confirm', any(d.startswith('confirm: Stop relaying') for d in page.dialogs),
          'a confirm dialog', page.dialogs)
    st = page.api('GET', '/api/status')
    data = st.get('data') or {}
    check('toggle off: /api/status started false', (data.get('module') or {}).get('started') is False,
          False, data.get('module'))
    check('toggle off: the toggle is unchecked', not page.prop('#start-toggle', 'checked'),
          'unchecked', 'checked')
    page.toggle()
    restarted = page.wait_text('#status-started', lambda t: t == 'started')
    check('toggle on: the page says started', restarted == 'started', '"started"', restarted)
    st = page.api('GET', '/api/status')
    data = st.get('data') or {}
    check('toggle on: /api/status started true', (data.get('module') or {}).get('started') is True,
          True, data.get('module'))
    row, rows = page.wait_row(lambda r: r[2].startswith('10.0.0.1:'))
    check('flows come back after the restart', row, 'a row from 10.0.0.1', rows)

    def gport_in(cfg):
        return (cfg.get('data') or {}).get('gport')

    # ---- configuration: a bad gport (a relayed TCP port), then a good one
    page.save_gport(80)
    err = page.wait_text('#err-gport', lambda t: t != '')
    check('bad gport 80: inline error on the field', re.search('tcp_ports', err or ''),
          'an error naming tcp_ports', err)
    check('bad gport 80: the field is marked invalid',
          'invalid' in (page.prop('#cfg-gport', 'className') or '').split(), 'class invalid', 'none')
    not_saved = page.wait_text('#cfg-message', lambda t: t != '')
    check('bad gport 80: "Not saved."', not_saved == 'Not saved.', '"Not saved."', not_saved)
    cfg = page.api('GET', '/api/config')
    check('bad gport 80: gport still 16000', gport_in(cfg) == 16000, 16000, gport_in(cfg))

    page.save_gport('abc')
    local = page.wait_text('#err-gport', lambda t: t != '')
    check('gport "abc": refused in the page', re.search('integer', local or ''), 'an integer error', local)

    page.save_gport(16001)
    saved = page.wait_text('#cfg-message', lambda t: t == 'Saved.')
    check('gport 16001: "Saved."', saved == 'Saved.', '"Saved."', saved)
    cleared = page.text('#err-gport')
    check('gport 16001: the inline error is gone', cleared == '', '""', cleared)
    cfg = page.api('GET', '/api/config')
    check('gport 16001: the API says 16001', gport_in(cfg) == 16001, 16001, gport_in(cfg))
    row, rows = page.wait_row(lambda r: r[0] == 'TCP' and r[5] == '16001')
    check('a new TCP flow goes to gport 16001', row, 'a TCP row with gport 16001', rows)

    page.save_gport(16000)
    back = page.wait_text('#cfg-message', lambda t: t == 'Saved.')
    check('gport back to 16000: "Saved."', back == 'Saved.', '"Saved."', back)
    cfg = page.api('GET', '/api/config')
    check('gport back to 16000 in the API', gport_in(cfg) == 16000, 16000, gport_in(cfg))
    row, rows = page.wait_row(lambda r: r[0] == 'TCP' and r[5] == '16000')
    check('TCP flows go to gport 16000 again', row, 'a TCP row with gport 16000', rows)

    def interfaces_in(cfg):
        return (cfg.get('data') or {}).get('interfaces')

    # ---- configuration: the scope, checked in the page, by the server, then set and cleared
    if_shown = page.prop('#cfg-interfaces', 'value')
    check('the config form shows interfaces empty (every interface)', if_shown == '', '""', if_shown)
    page.save_field('interfaces', 'rc0/1')
    if_local = page.wait_text('#err-interfaces', lambda t: t != '')
    check('interfaces "rc0/1": refused in the page', re.search('interface names', if_local or ''),
          'an interface-name error', if_local)
    page.save_field('interfaces', 'rc0,rc0')
    if_twice = page.wait_text('#err-interfaces', lambda t: t != '')
    check('interfaces "rc0,rc0": the server\'s error on the field',
          re.search('rc0 listed twice', if_twice or ''), 'an error saying rc0 is listed twice', if_twice)
    page.save_field('interfaces', 'rc0, rs+')
    if_saved = page.wait_text('#cfg-message', lambda t: t == 'Saved.')
    check('interfaces "rc0, rs+": "Saved."', if_saved == 'Saved.', '"Saved."', if_saved)
    cfg = page.api('GET', '/api/config')
    check('interfaces in the API: rc0,rs+', interfaces_in(cfg) == 'rc0,rs+', 'rc0,rs+', interfaces_in(cfg))
    page.save_field('interfaces', '')
    if_cleared = page.wait_text('#cfg-message', lambda t: t == 'Saved.')
    check('interfaces emptied: "Saved."', if_cleared == 'Saved.', '"Saved."', if_cleared)
    cfg = page.api('GET', '/api/config')
    check('interfaces in the API: "" (every interface)', interfaces_in(cfg) == '', '""', interfaces_in(cfg))

    def client_cc_in(cfg):
        return (cfg.get('data') or {}).get('client_cc')

    # ---- configuration: the client leg's congestion control, checked in
    # the page, refused by the kernel, then set (reno: built in) and cleared
    cc_shown = page.prop('#cfg-client_cc', 'value')
    check('the config form shows client_cc empty (the system default)', cc_shown == '', '""', cc_shown)
    page.save_field('client_cc', 'no such')
    cc_local = page.wait_text('#err-client_cc', lambda t: t != '')
    check('client_cc "no such": refused in the page', re.search('congestion control', cc_local or ''),
          'a congestion-control error', cc_local)
    page.save_field('client_cc', 'nosuchcc')
    cc_kernel = page.wait_text('#err-client_cc', lambda t: 'kernel' in t)
    check('client_cc "nosuchcc": the kernel\'s refusal on the field',
          re.search('no congestion control of that name', cc_kernel or ''),
          'an error saying the kernel has no such congestion control', cc_kernel)
    cfg = page.api('GET', '/api/config')
    check('client_cc still empty after the refusal', client_cc_in(cfg) == '', '""', client_cc_in(cfg))
    page.save_field('client_cc', 'reno')
    cc_saved = page.wait_text('#cfg-message', lambda t: t == 'Saved.')
    check('client_cc "reno": "Saved."', cc_saved == 'Saved.', '"Saved."', cc_saved)
    cfg = page.api('GET', '/api/config')
    check('client_cc in the API: reno', client_cc_in(cfg) == 'reno', 'reno', client_cc_in(cfg))
    page.save_field('client_cc', '')
    # (the message said "Saved." already: wait for the API instead)
    end = time.monotonic() + TIMEOUT
    cfg = page.api('GET', '/api/config')
    while client_cc_in(cfg) != '' and time.monotonic() < end:
        time.sleep(0.25)
        cfg = page.api('GET', '/api/config')
    check('client_cc emptied: "" in the API again', client_cc_in(cfg) == '', '""', client_cc_in(cfg))

    def mode_in(cfg):
        return (cfg.get('data') or {}).get('tcp_mode')

    def api_until(pred):
        end = time.monotonic() + TIMEOUT
        cfg = page.api('GET', '/api/config')
        while not pred(cfg) and time.monotonic() < end:
            time.sleep(0.25)
            cfg = page.api('GET', '/api/config')
        return cfg

    # ---- configuration: who relays TCP, a select: kernel, then user again
    mode_shown = page.prop('#cfg-tcp_mode', 'value')
    check('the config form shows tcp_mode user', mode_shown == 'user', 'user', mode_shown)
    page.choose('#cfg-tcp_mode', 'kernel')
    page.click('#cfg-save')
    cfg = api_until(lambda c: mode_in(c) == 'kernel')
    check('tcp_mode kernel chosen in the page reaches the module', mode_in(cfg) == 'kernel',
          'kernel', '%r (the page says %r, the field holds %r)' % (
              mode_in(cfg), page.prop('#cfg-message', 'textContent'),
              page.prop('#cfg-tcp_mode', 'value')))
    page.choose('#cfg-tcp_mode', 'user')
    page.click('#cfg-save')
    cfg = api_until(lambda c: mode_in(c) == 'user')
    check('and back to user', mode_in(cfg) == 'user', 'user', mode_in(cfg))

    # ---- paging: the guest fills the table past a page (1,500 spoofed
    # DNS queries) when FLOOD appears
    first = page.prop('#nat-next', 'disabled')
    check('a table of one page: Next is disabled', first, 'disabled', 'enabled')
    if FLOOD:
        open(FLOOD, 'w').close()
        # The flood is still arriving while the first pages are read: a walk
        # can end short of a page while the count read after it is past one.
        # Wait for a refresh that both counts past a page and pages.
        count = page.wait_text('#nat-count', lambda t: re.match(r'(\d+) \(page 1: ', t) and
                               int(re.match(r'(\d+)', t).group(1)) > 1000, timeout=60)
        m = re.search(r'page 1: (\d+)\)', count or '')
        check('the flood fills the table past a page, shown a page at a time',
              m and 900 < int(m.group(1)) <= 1000, '"N (page 1: ≤1000)" with N > 1000', count)
        page.wait_actionable('#nat-next')
        p1 = {(r[0], r[2]) for r in page.nat_rows()}
        page.click('#nat-next')
        count2 = page.wait_text('#nat-count', lambda t: 'page 2' in t)
        check('Next shows page 2', count2 and 'page 2' in count2, '"(page 2: …)"', count2)
        p2 = {(r[0], r[2]) for r in page.nat_rows()}
        check('page 2 holds other flows than page 1', p2 and not (p1 & p2),
              'disjoint non-empty pages', sorted(p1 & p2)[:5])
        check('First is enabled on page 2', not page.prop('#nat-first', 'disabled'),
              'enabled', 'disabled')
        page.click('#nat-first')
        back = page.wait_text('#nat-count', lambda t: 'page 1' in t)
        check('First goes back to page 1', back and 'page 1' in back, '"(page 1: …)"', back)

    # ---- the picture: let the chart gather a few samples first
    page.wait_text('#status-pps', lambda t: re.match(r'\d', t) is not None)
    time.sleep(3)
    os.makedirs(os.path.dirname(SHOT) or '.', exist_ok=True)
    page.screenshot(SHOT)
    size = os.path.getsize(SHOT)
    check('screenshot saved to ' + SHOT, size > 10000, '> 10 kB', size)
    page.drain()
    check('no script errors or CSP violations in the page', not page.page_errors, 'none', page.page_errors)
    check('no 5xx answer from webadmin', not page.server_errors, 'none', page.server_errors)


def main():
    global failed
    profile = None
    driver = None
    try:
        if not PASS:
            raise RuntimeError('DASH_PASSWORD is not set')
        profile = tempfile.mkdtemp(prefix='krelay-dash-')
        driver = launch(profile)
        page = Page(driver)
        page.set_viewport(*VIEWPORT)
        run(page)
    except Exception:   # pylint: disable=broad-except
        failed += 1
        print('not ok - the browser script stopped: ' + traceback.format_exc().rstrip(), flush=True)
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:   # pylint: disable=broad-except
                pass
        if profile is not None:
            shutil.rmtree(profile, ignore_errors=True)
    print('dashboard: %d passed, %d failed' % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
