"""The leaderboard page in a real headless Chromium, driven over the DevTools protocol.

Checks: the page loads from a file with no network request (only ``file:`` and ``data:``
URLs), its tables are in the DOM, a click on a column header sorts the rows, the
malicious run's payloads never execute, no script error is thrown, and a screenshot is
produced. Chromium is Debian's ``chromium`` package: if it is missing the test installs it
once with apt-get (as root); it skips, saying why, only when no browser can be installed.
The screenshots are kept when ``BIASBENCH_SCREENSHOT_DIR`` names a folder.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from report_fixtures import MALICIOUS, shared_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
]
_INSTALL: dict[str, str | None] = {}


def find_or_install_chromium() -> tuple[str | None, str]:
    """The browser's path, or None and why not. Tries ``apt-get install chromium`` once."""
    if "tried" in _INSTALL:
        return _INSTALL["path"], _INSTALL["why"] or ""
    path = next((p for name in BROWSERS if (p := shutil.which(name))), None)
    why = ""
    if path is None:
        if os.name != "posix" or os.geteuid() != 0 or not shutil.which("apt-get"):
            why = "no chromium on PATH and no root apt-get to install it"
        else:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            try:
                for cmd in (
                    ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "chromium"],
                ):
                    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
                    if done.returncode != 0:
                        why = f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}"
                        break
            except (OSError, subprocess.SubprocessError) as e:
                why = f"apt-get could not run: {e}"
            path = next((p for name in BROWSERS if (p := shutil.which(name))), None)
            why = why or ("" if path else "apt-get install chromium left no chromium on PATH")
    _INSTALL.update(tried="yes", path=path, why=why)
    return path, why


class DevTools:
    """A minimal Chrome DevTools Protocol session over one page's websocket."""

    def __init__(self, ws_url: str):
        import websocket  # websocket-client

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0

    def call(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict:
        end = time.time() + timeout
        while time.time() < end:
            for i, ev in enumerate(self.events):
                if ev.get("method") == event:
                    return self.events.pop(i)
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(event)

    def js(self, expression: str):
        out = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in out:
            raise RuntimeError(out["exceptionDetails"])
        return out["result"].get("value")

    def click(self, x: float, y: float) -> None:
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium with remote debugging, and the websocket of its page."""
    path, why = find_or_install_chromium()
    if path is None:
        pytest.skip(f"no headless Chromium could be installed ({why}); browser checks skipped")
    pytest.importorskip(
        "websocket", reason="websocket-client is a dev dependency: pip install -e '.[dev]'"
    )
    profile = Path(tempfile.mkdtemp(prefix="biasbench-chromium-"))
    proc = subprocess.Popen(
        [path, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        end = time.time() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if proc.poll() is not None or time.time() > end:
                pytest.fail(f"{path} did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.loads(r.read())
        page = next(t for t in targets if t.get("type") == "page")
        yield DevTools(page["webSocketDebuggerUrl"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def loaded(browser):
    """The leaderboard page loaded, with the URLs of every request it made."""
    _, out, _ = shared_report()
    page = (out / "leaderboard.html").resolve()
    for domain in ("Network", "Page", "Runtime"):
        browser.call(f"{domain}.enable")
    browser.call("Page.navigate", url=page.as_uri())
    browser.wait_for("Page.loadEventFired")
    time.sleep(0.3)  # let late requests (none expected) show up
    browser.call("Runtime.evaluate", expression="1")  # drain pending events
    return browser, out


def _shots_dir(tmp_path: Path) -> Path:
    keep = os.environ.get("BIASBENCH_SCREENSHOT_DIR")
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_page_loads_without_network_and_without_errors(loaded):
    cdp, _ = loaded
    urls = [
        e["params"]["request"]["url"]
        for e in cdp.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert urls, "the navigation itself should be seen"
    assert all(u.startswith(("file:", "data:")) for u in urls), urls
    errors = [e for e in cdp.events if e.get("method") == "Runtime.exceptionThrown"]
    assert not errors, errors
    assert cdp.js("typeof window.__pwned") == "undefined"  # the payloads never ran
    assert cdp.js("document.documentElement.classList.contains('js')")  # our script did run


def test_tables_are_in_the_dom(loaded):
    cdp, _ = loaded
    assert cdp.js("document.querySelectorAll('table.sortable').length") >= 8
    assert cdp.js("document.querySelectorAll('table.provenance').length") >= 8
    tabs = cdp.js(
        "Array.from(document.querySelectorAll('button[role=tab]')).map(b => b.textContent)"
    )
    assert "ucf-scuba" in tabs and "synth-scuba" in tabs
    names = cdp.js(
        "Array.from(document.querySelectorAll('.panel.active table.sortable tbody td:first-child')).map(td => td.textContent)"
    )
    assert names, "the first tab shows a table"
    assert cdp.js(f"document.body.textContent.includes({json.dumps(MALICIOUS)})")  # as text


def test_clicking_a_header_sorts_the_rows(loaded, tmp_path):
    cdp, _ = loaded
    cdp.js(
        "Array.from(document.querySelectorAll('button[role=tab]')).find(b => b.textContent === 'ucf-scuba').click()"
    )
    table = "document.querySelector('.panel.active table.sortable')"
    col = cdp.js(
        f"Array.from({table}.querySelectorAll('thead tr.columns th')).findIndex(th => th.textContent.startsWith('oc_top1'))"
    )
    assert col > 0, cdp.js(f"{table}.querySelector('thead').textContent")
    rect = cdp.js(
        f"(() => {{ const th = {table}.querySelectorAll('thead tr.columns th')[{col}];"
        " th.scrollIntoView(); const r = th.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    values = f"Array.from({table}.querySelectorAll('tbody tr')).map(tr => parseFloat(tr.children[{col}].dataset.value))"
    before = cdp.js(values)
    cdp.click(*rect)
    ascending = cdp.js(values)
    assert ascending == sorted(before)
    assert (
        cdp.js(f"{table}.querySelectorAll('thead tr.columns th')[{col}].getAttribute('aria-sort')")
        == "ascending"
    )
    cdp.click(*rect)
    assert cdp.js(values) == sorted(before, reverse=True)
    shot = cdp.screenshot(_shots_dir(tmp_path) / "leaderboard-sorted.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_provenance_link_and_screenshots(loaded, tmp_path):
    cdp, _ = loaded
    folder = _shots_dir(tmp_path)
    cdp.js("document.querySelector('button[role=tab]').click(); window.scrollTo(0, 0)")
    first = cdp.screenshot(folder / "leaderboard.png")
    href = cdp.js(
        "document.querySelector('.panel.active table.sortable tbody a').getAttribute('href')"
    )
    cdp.js("document.querySelector('.panel.active table.sortable tbody a').click()")
    assert cdp.js("location.hash") == href
    assert cdp.js(f"document.getElementById({json.dumps(href[1:])}).classList.contains('target')")
    assert cdp.js(
        f"document.getElementById({json.dumps(href[1:])}).offsetParent !== null"
    )  # visible
    embedded_tab = "document.querySelector('.tabgroup.embedded button[role=tab]')"
    cdp.js(f"{embedded_tab}.click(); window.scrollTo(0, 0)")
    assert cdp.js("document.querySelector('.panel.active').dataset.embedded") == "true"
    assert cdp.js("document.querySelector('.panel.active .banner').offsetParent !== null")
    second = cdp.screenshot(folder / "leaderboard-embedded.png")
    assert first.stat().st_size > 10_000 and second.stat().st_size > 10_000
