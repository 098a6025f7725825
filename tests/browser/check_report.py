#!/usr/bin/python3
"""Checks a report.html written by `lrpe report` in a real browser: Debian's Chromium, headless,
driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages ended by a NUL
byte, commands on fd 3, answers on fd 4), so nothing but the Python standard library is needed and
nothing is downloaded.

It loads the file from disk and fails (exit 1, one line saying why) on any console error or
uncaught exception, on a resource fetched from anywhere (the page must be self-contained), on a
table without rows, on a plot (<svg>) without a size, on a blank screenshot (the PNG decoded with
zlib, its pixels' spread measured), on a page wider than a narrow window, and when a click on a
column head (a real mouse event at the head's place) does not sort the rows by that column, or a
second click does not reverse them. Every step has a deadline (--timeout); past it the browser's
whole process group is killed. Exit 0 after a line saying what was checked; 2 on bad usage.

usage: check_report.py REPORT.html [--chromium PATH] [--timeout SECONDS] [--screenshot OUT.png]
"""
import argparse
import base64
import fcntl
import json
import os
import pathlib
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

# The flags the browser starts with (the list); the profile folder is a fresh temporary one.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
WIDE, NARROW, HEIGHT = 1100, 380, 800  # window widths and height, CSS pixels


class Failure(Exception):
    """A check failed; its text is the one line printed."""


def high_fd(fd):
    """fd moved to a number above 10 (close-on-exec), the old one closed."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Browser:
    """Chromium with a DevTools pipe: send commands, wait for answers and events, each by a deadline."""

    def __init__(self, chromium, timeout):
        self.timeout = timeout
        self.tmp = tempfile.mkdtemp(prefix="lrpe-browser-")
        cmd_r, self.cmd_w = os.pipe()  # our commands: the browser reads fd 3
        self.ans_r, ans_w = os.pipe()  # its answers and events: the browser writes fd 4
        cmd_r, ans_w = high_fd(cmd_r), high_fd(ans_w)  # not 3 or 4 themselves, so dup2 below moves them

        def child_fds():
            os.dup2(cmd_r, 3)  # inheritable, unlike the pipe's own ends
            os.dup2(ans_w, 4)

        env = dict(os.environ, HOME=self.tmp, XDG_CONFIG_HOME=self.tmp, XDG_CACHE_HOME=self.tmp)
        args = [chromium, *FLAGS, "--user-data-dir=" + os.path.join(self.tmp, "profile"), "--remote-debugging-pipe",
                "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.tmp, "chromium.log"), "wb"), env=env,
                                     close_fds=False, preexec_fn=child_fds, start_new_session=True)
        os.close(cmd_r)
        os.close(ans_w)
        self.buf = b""
        self.next_id = 0
        self.events = []  # (session, method, params) not yet consumed
        self.errors = []  # console errors and exceptions of the page, as text

    def close(self):
        """Asks the browser to quit, kills its process group when it does not, removes the profile."""
        try:
            if self.proc.poll() is None:
                self.send("Browser.close", wait=False)
                self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired, Failure):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its helpers (renderer, zygote) too
        except ProcessLookupError:
            pass
        self.proc.wait()
        for fd in (self.cmd_w, self.ans_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def send(self, method, params=None, session=None, wait=True):
        """Sends a command; with wait, returns its result (Failure on an error or past the deadline)."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.cmd_w, json.dumps(msg).encode() + b"\0")
        if not wait:
            return None
        mine = self.next_id
        answer = self._read_until(lambda m: m.get("id") == mine, method)
        if "error" in answer:
            raise Failure(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer.get("result", {})

    def wait_event(self, method, session):
        """Waits for event method of session (Failure past the deadline)."""
        for i, (s, m, p) in enumerate(self.events):
            if s == session and m == method:
                del self.events[i]
                return p
        self._read_until(lambda msg: msg.get("method") == method and msg.get("sessionId") == session, method)
        return self.events.pop()[2]

    def _read_until(self, done, what):
        """Reads messages until done(message) holds; keeps events, notes the page's errors."""
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "method" in msg:
                    self._note(msg)
                    self.events.append((msg.get("sessionId"), msg["method"], msg.get("params", {})))
                if done(msg):
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"chromium did not answer {what} within {self.timeout:g} s")
            if not select.select([self.ans_r], [], [], left)[0]:
                continue
            chunk = os.read(self.ans_r, 1 << 20)
            if not chunk:
                raise Failure(f"chromium exited (status {self.proc.poll()}) while waiting for {what}; "
                              f"its messages: {self.log_tail()}")
            self.buf += chunk

    def _note(self, msg):
        """Records msg when it reports a console error or an uncaught exception of the page."""
        m, p = msg["method"], msg.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console." + p["type"] + ": " + " ".join(str(a.get("value", a.get("description", "")))
                                                                       for a in p.get("args", [])))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("exception", {}).get("description", d.get("text", "?"))
            self.errors.append("exception: " + text.splitlines()[0] + f" (line {d.get('lineNumber', 0) + 1})")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())

    def log_tail(self):
        """The last lines chromium printed."""
        try:
            text = pathlib.Path(self.tmp, "chromium.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(none)"
        return " | ".join(text[-3:]) or "(none)"


def evaluate(b, session, expr):
    """The value of the JavaScript expression expr in the page (Failure when it throws)."""
    r = b.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
    if "exceptionDetails" in r:
        raise Failure(f"evaluating a check in the page threw: {r['exceptionDetails'].get('text')}")
    return r["result"].get("value")


def png_pixels(data):
    """Width, height, channels and the unfiltered rows of an 8-bit, non-interlaced RGB(A) PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise Failure("the screenshot is not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise Failure(f"unexpected screenshot PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
            ch = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the row's filter (PNG spec, 9.2)
            a = line[i - ch] if i >= ch else 0
            up, c = prev[i], prev[i - ch] if i >= ch else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + up) & 255
            elif f == 3:
                line[i] = (line[i] + (a + up) // 2) & 255
            elif f == 4:
                p = a + up - c
                pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else up if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, ch, rows


def check_not_blank(png):
    """Fails unless the screenshot has ink: enough non-background pixels and spread of brightness."""
    w, h, ch, rows = png_pixels(png)
    lum = [(r[i] * 299 + r[i + 1] * 587 + r[i + 2] * 114) // 1000 for r in rows for i in range(0, w * ch, ch)]
    mean = sum(lum) / len(lum)
    var = sum((v - mean) ** 2 for v in lum) / len(lum)
    ink = sum(v < 200 for v in lum) / len(lum)
    if var < 50 or ink < 0.005:
        raise Failure(f"the screenshot ({w}x{h}) looks blank: brightness variance {var:.1f}, {100 * ink:.2f}% dark pixels")
    return f"{w}x{h}, variance {var:.0f}, {100 * ink:.1f}% dark pixels"


# What the page shows, read in the page: its tables (rows, heads) and plots (sizes), and what it loaded.
SURVEY = """(() => ({
  tables: Array.from(document.querySelectorAll('table')).map(t => ({
    rows: t.tBodies.length ? t.tBodies[0].rows.length : 0, heads: t.querySelectorAll('thead th').length,
    sortable: t.classList.contains('sortable')})),
  plots: Array.from(document.querySelectorAll('svg')).filter(s => !s.parentElement.closest('svg')).map(s => {
    const r = s.getBoundingClientRect(); return {w: r.width, h: r.height, label: s.getAttribute('aria-label')}; }),
  resources: performance.getEntriesByType('resource').map(e => e.name),
  width: document.documentElement.scrollWidth, view: window.innerWidth
}))()"""

# A table column to sort by: the first column of a sortable table with two numbers (data-v) or more
# that are not in ascending order; its head's centre in the viewport after scrolling it into view.
PICK = """(() => {
  const tables = Array.from(document.querySelectorAll('table.sortable'));
  for (let t = 0; t < tables.length; t++) {
    const heads = tables[t].querySelectorAll('thead th'), rows = Array.from(tables[t].tBodies[0].rows);
    for (let c = 0; c < heads.length; c++) {
      const v = rows.map(r => r.cells[c] && r.cells[c].hasAttribute('data-v') ? parseFloat(r.cells[c].getAttribute('data-v')) : null)
                    .filter(x => x !== null);
      if (v.length < 2 || v.every((x, i) => i === 0 || v[i - 1] <= x)) continue;
      heads[c].scrollIntoView({block: 'center'});
      const r = heads[c].getBoundingClientRect();
      return {table: t, col: c, head: heads[c].textContent, x: r.left + r.width / 2, y: r.top + r.height / 2,
              order: rows.map(r => r.textContent)};
    }
  }
  return null;
})()"""

# The centre of the head of column C of sortable table T in the viewport.
HEAD = """(() => { const r = document.querySelectorAll('table.sortable')[%d].tHead.rows[0].cells[%d].getBoundingClientRect();
  return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"""

# The rows of table T as [data-v of column C or null, the row's text].
COLUMN = """(() => Array.from(document.querySelectorAll('table.sortable')[%d].tBodies[0].rows).map(r =>
  [r.cells[%d] && r.cells[%d].hasAttribute('data-v') ? parseFloat(r.cells[%d].getAttribute('data-v')) : null, r.textContent]))()"""


def click(b, session, x, y):
    """A left click at (x, y) in the viewport, as the mouse gives it."""
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        b.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left" if kind != "mouseMoved" else "none",
                                            "clickCount": 1}, session)


def check_sorted(rows, before, direction, what):
    """Fails unless rows (data-v or None, text) hold the rows of before with the numbers first, in
    direction (1 ascending, -1 descending), and the cells without a number after them."""
    nums = [v for v, _ in rows if v is not None]
    first_none = next((i for i, (v, _) in enumerate(rows) if v is None), len(rows))
    if sorted(t for _, t in rows) != sorted(before):
        raise Failure(f"{what}: the rows changed, not only their order")
    if any(v is not None for v, _ in rows[first_none:]):
        raise Failure(f"{what}: a cell without a number sorts before one with a number")
    if nums != sorted(nums, reverse=direction < 0):
        raise Failure(f"{what}: column not in {'ascending' if direction > 0 else 'descending'} order: {nums}")


def run_checks(b, report, screenshot_out):
    """Every check on the page; a line saying what was checked."""
    target = b.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = b.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log"):
        b.send(domain + ".enable", {}, session)
    metrics = {"width": WIDE, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
    b.send("Emulation.setDeviceMetricsOverride", metrics, session)
    nav = b.send("Page.navigate", {"url": pathlib.Path(report).resolve().as_uri()}, session)
    if nav.get("errorText"):
        raise Failure(f"loading {report}: {nav['errorText']}")
    b.wait_event("Page.loadEventFired", session)

    page = evaluate(b, session, SURVEY)
    tables, plots = page["tables"], page["plots"]
    if not tables or not plots:
        raise Failure(f"the page has {len(tables)} tables and {len(plots)} plots; want some of each")
    for i, t in enumerate(tables):
        if t["rows"] < 1 or t["heads"] < 1 or not t["sortable"]:
            raise Failure(f"table {i + 1}: {t['rows']} rows, {t['heads']} column heads, sortable {t['sortable']}")
    for p in plots:
        if p["w"] < 10 or p["h"] < 10:
            raise Failure(f"plot '{p['label']}' did not render: {p['w']}x{p['h']} px")
    if page["resources"]:
        raise Failure(f"the page fetched resources, it should hold everything: {page['resources'][:3]}")

    shot = base64.b64decode(b.send("Page.captureScreenshot", {"format": "png"}, session)["data"])
    if screenshot_out:
        pathlib.Path(screenshot_out).write_bytes(shot)
    ink = check_not_blank(shot)

    pick = evaluate(b, session, PICK)
    if not pick:
        raise Failure("no sortable column whose numbers are out of order to test a click on")
    what = f"table {pick['table'] + 1}, column '{pick['head'].strip()}'"
    query = COLUMN % (pick["table"], pick["col"], pick["col"], pick["col"])
    click(b, session, pick["x"], pick["y"])
    check_sorted(evaluate(b, session, query), pick["order"], 1, what + " after one click")
    head = evaluate(b, session, HEAD % (pick["table"], pick["col"]))  # where the head is now
    click(b, session, head["x"], head["y"])
    check_sorted(evaluate(b, session, query), pick["order"], -1, what + " after a second click")

    b.send("Emulation.setDeviceMetricsOverride", dict(metrics, width=NARROW), session)
    narrow = evaluate(b, session, SURVEY)
    if narrow["width"] > narrow["view"] + 1:
        raise Failure(f"at {NARROW} px the page is {narrow['width']} px wide: something does not fit a narrow window")
    wide_plots = [p["label"] for p in narrow["plots"] if p["w"] > narrow["view"]]
    if wide_plots:
        raise Failure(f"at {NARROW} px plots are wider than the window: {wide_plots[:3]}")
    evaluate(b, session, "0")  # a round trip, so that errors the clicks caused have arrived
    if b.errors:
        raise Failure(f"{len(b.errors)} console error(s): " + "; ".join(b.errors[:3]))
    return (f"{len(tables)} tables with rows, {len(plots)} plots rendered, no console error, nothing fetched, "
            f"screenshot {ink}, {what} sorted by a click and reversed by another, fits {NARROW} px")


def main():
    ap = argparse.ArgumentParser(description="Checks a report.html in headless Chromium.")
    ap.add_argument("report")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds each browser step may take")
    ap.add_argument("--screenshot", help="where to keep the screenshot (PNG)")
    a = ap.parse_args()
    if not os.path.isfile(a.report):
        print(f"check_report: no file {a.report}", file=sys.stderr)
        return 2
    if not os.access(a.chromium, os.X_OK):
        print(f"check_report: no chromium at {a.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    start = time.monotonic()
    b = Browser(a.chromium, a.timeout)
    try:
        summary = run_checks(b, a.report, a.screenshot)
    except Failure as e:
        print(f"check_report: FAIL: {e}")
        return 1
    finally:
        b.close()
    print(f"check_report: ok: {summary} ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
