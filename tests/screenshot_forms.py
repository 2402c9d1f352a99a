"""Screenshot the operator's forms in Debian's Chromium, for a person to look at.

``make screenshots`` (``apt-get install chromium`` first): a throwaway ``prefect server start``
with its UI, the deployments of prefect.yaml, the block type and one example block, then a
headless Chromium (the system's; nothing is downloaded) saves each run form, the block form
and the block pages as PNG files under ``screenshots/``.

Chromium is driven over its DevTools protocol, so a picture is taken once the page has
settled: the network idle (Chromium's own ``networkIdle`` lifecycle event), web fonts loaded
and no animation running (the UI fades its forms in), not after a fixed sleep.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from processmaker_prefect.sandbox.net import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--remote-debugging-port=0",  # Chromium picks a free one and writes DevToolsActivePort
]
# True when nothing on the page still moves: every animation finished (or is idle/paused).
_SETTLED = (
    "document.readyState === 'complete' && "
    "document.getAnimations().every(a => a.playState !== 'running')"
)


class Page:
    """One Chromium tab over the DevTools protocol: navigate, wait until settled, capture."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.width, self.height = 0, 0
        self.events: list[dict[str, Any]] = []  # every event received, in order
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")
        self.send("Page.setLifecycleEventsEnabled", enabled=True)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call ``method`` and return its result; events that arrive meanwhile are kept."""
        call_id = next(self._ids)
        self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=120))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def _next_event(self, timeout: float) -> dict[str, Any] | None:
        try:
            message: dict[str, Any] = json.loads(self._socket.recv(timeout=timeout))
        except TimeoutError:
            return None
        self.events.append(message)
        return message

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        return result.get("result", {}).get("value")

    def goto(self, url: str, timeout: float = 90) -> None:
        """Open ``url`` and return once the page has settled (see the module docstring)."""
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        idle = False
        while not idle and time.monotonic() < deadline:
            event = self._next_event(timeout=1)
            idle = bool(
                event
                and event.get("method") == "Page.lifecycleEvent"
                and event["params"].get("name") == "networkIdle"
            )
        self.settle(deadline)

    def settle(self, deadline: float | None = None) -> None:
        """Until fonts are loaded and no animation runs, twice in a row (a transition may
        start one frame after the last one ended)."""
        deadline = deadline or time.monotonic() + 30
        self.evaluate("document.fonts.ready.then(() => true)")
        calm = 0
        while calm < 2 and time.monotonic() < deadline:
            calm = calm + 1 if self.evaluate(_SETTLED) else 0
            self.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 100)))")

    def resize(self, width: int, height: int) -> None:
        """Set the viewport (a layout change, so the page settles again)."""
        self.width, self.height = width, height
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=height, deviceScaleFactor=1, mobile=False,
        )  # fmt: skip

    def screenshot(self, target: Path, selector: str | None = None) -> None:
        """Save the viewport, or the part of it the element ``selector`` covers.

        The window must be tall enough for the element: Chromium's "beyond the viewport"
        capture lays the page out again and shifts the box, so it is not used.
        """
        params: dict[str, Any] = {"format": "png"}
        if selector:
            # The element's box, down to the end of its content (not of an empty background).
            box = self.evaluate(
                f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                " if (!e) return null; const r = e.getBoundingClientRect();"
                " const last = [...e.querySelectorAll('*')].reduce((b, c) =>"
                " Math.max(b, c.getBoundingClientRect().bottom), r.top);"
                " return [r.x, r.y, r.width, Math.min(r.height, last - r.top + 16)]; })()"
            )
            if box:
                x, y, width, height = box
                height = min(height, self.height - y)  # within the viewport
                params["clip"] = {"x": x, "y": y, "width": width, "height": height, "scale": 1}
        target.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))


@contextmanager
def chromium_page(chromium: str, profile: Path, width: int, height: int) -> Iterator[Page]:
    """A headless Chromium with one tab of ``width`` x ``height``, closed afterwards."""
    profile.mkdir(parents=True, exist_ok=True)
    # Crash reports and dconf's cache go under HOME whatever --user-data-dir says: give the
    # browser the profile as its home, so nothing lands in the user's.
    env = {**os.environ, "HOME": str(profile), "XDG_CONFIG_HOME": str(profile / "config"),
           "XDG_CACHE_HOME": str(profile / "cache")}  # fmt: skip
    browser = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         f"--window-size={width},{height}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if browser.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("Chromium did not start its DevTools endpoint")
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            tab = next(t for t in json.load(r) if t["type"] == "page")
        with connect(tab["webSocketDebuggerUrl"], max_size=None) as socket:
            page = Page(socket)
            page.resize(width, height)
            yield page
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=20)
        except subprocess.TimeoutExpired:
            browser.kill()


def _rest(api: str, method: str, path: str, body: object = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our loopback server
        api + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.load(response)


def wait_healthy(api: str, server: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("prefect server exited early; see its log")
        try:
            _rest(api, "GET", "/health")
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("prefect server did not start")


def _prefect(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([str(BIN / "prefect"), "--no-prompt", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"prefect {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def _example_block(env: dict[str, str]) -> str:
    """Save a block ``pm-prod``, as an operator would, and return its id."""
    code = (
        "from processmaker_prefect import ProcessMakerConnection\n"
        "print(ProcessMakerConnection(url='https://pm.example.com',"
        " secret='secret/processmaker/prod').save('pm-prod', overwrite=True))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def prefect_ui(scratch: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A throwaway Prefect server with its UI, our deployments and block type: (UI URL, env)."""
    port = free_port()
    ui = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(scratch),
        "PREFECT_API_URL": f"{ui}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    with (scratch / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
             str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_healthy(env["PREFECT_API_URL"], server)
        _prefect(env, "work-pool", "create", "processmaker", "--type", "process")
        _prefect(env, "deploy", "--all")
        _prefect(env, "block", "register", "-m", "processmaker_prefect.prefect_layer.blocks")
        yield ui, env
    finally:
        server.terminate()
        server.wait(timeout=30)


# The page's content column, without the navigation bar: what the docs show.
CONTENT = ".p-layout-default"


def _shoot_all(page: Page, ui: str, api: str, block_id: str, out: Path) -> list[Path]:
    """Each run form, the block's pages, and the start-requests form refusing a run that lacks
    its process_id; every picture once the page has settled, cropped to the content."""
    pages = {"block-create": "/blocks/catalog/processmaker-connection/create",
             "block-type": "/blocks/catalog/processmaker-connection",
             "block": f"/blocks/block/{block_id}"}  # fmt: skip
    for deployment in _rest(api, "POST", "/deployments/filter", {}):
        pages[f"run-{deployment['name']}"] = f"/deployments/deployment/{deployment['id']}/run"
    taken = []
    for name, path in sorted(pages.items()):
        page.goto(ui + path)
        taken.append(out / f"{name}.png")
        page.screenshot(taken[-1], selector=CONTENT)
        if name == "run-start-requests":
            # Submit untouched: the form refuses it, naming the missing process_id.
            page.evaluate(
                "[...document.querySelectorAll('button')]"
                ".find(b => b.textContent.trim() === 'Submit')?.click()"
            )
            page.settle()
            taken.append(out / "run-start-requests-refused.png")
            page.screenshot(taken[-1], selector=CONTENT)
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--height", type=int, default=2000, help="window height, pixels")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium not found: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="pm-forms-") as scratch,
        prefect_ui(Path(scratch)) as (ui, env),
    ):
        block_id = _example_block(env)
        with chromium_page(chromium, Path(scratch) / "chromium", 1100, args.height) as page:
            for target in _shoot_all(page, ui, env["PREFECT_API_URL"], block_id, args.out):
                print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
