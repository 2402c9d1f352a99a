"""Screenshot the operator's path through a task review in Debian's Chromium.

``make screenshots`` (``apt-get install chromium`` first): OpenBao and the ProcessMaker
sandbox on free ports, a throwaway ``prefect server start`` with its UI, the review-tasks
deployment and a process worker. A review run lists open tasks and pauses; Chromium (driven
over its DevTools protocol, nothing downloaded) saves the preview artifact, the paused run and
the Resume form. The run is then resumed through the API with a decision, as the form would
send it, and Chromium saves the result artifact. PNGs go to ``screenshots/review-*.png``.
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
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.openbao import DevVault, free_port
from processmaker_prefect.sandbox.server import SandboxServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.screenshot_forms import (
    BIN,
    CHROMIUM_FLAGS,
    ROOT,
    _prefect,
    _rest,
    wait_healthy,
)

SECRET = "secret/processmaker/screenshots"  # a Vault path, not a secret


class Browser:
    """One headless Chromium page over the DevTools protocol: navigate, click, screenshot."""

    def __init__(self, chromium: str, profile: Path, width: int, height: int) -> None:
        port = free_port()
        self.process = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", f"--remote-debugging-port={port}",
             "--remote-allow-origins=*", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        page = _wait(lambda: _page_socket(port), "Chromium's DevTools endpoint")
        self.socket = connect(page, max_size=64 * 2**20, open_timeout=30)
        self._ids = itertools.count(1)
        self.call("Page.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=120))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        found = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return found.get("result", {}).get("value")

    def open(self, url: str, text: str) -> None:
        """Go to ``url`` and wait until the page shows ``text`` and stops moving."""
        self.call("Page.navigate", url=url)
        self.wait_for_text(text)

    def wait_for_text(self, text: str) -> None:
        probe = f"document.body && document.body.innerText.includes({json.dumps(text)})"
        _wait(lambda: self.evaluate(probe) or None, f"the text {text!r}")
        time.sleep(3)  # let the UI's transitions and late requests settle

    def click(self, label: str) -> None:
        """Click the first button whose text is ``label``."""
        script = (
            "(() => { const b = [...document.querySelectorAll('button')]"
            f".find(e => e.innerText.trim() === {json.dumps(label)});"
            " if (b) { b.click(); return true; } return false; })()"
        )
        _wait(lambda: self.evaluate(script) or None, f"a button {label!r}")

    def shoot(self, target: Path) -> None:
        shot = self.call("Page.captureScreenshot", format="png")
        target.write_bytes(base64.b64decode(shot["data"]))
        print(target)

    def close(self) -> None:
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)


def _page_socket(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
    except OSError:
        return None
    return str(pages[0]["webSocketDebuggerUrl"]) if pages else None


def _wait(probe: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := probe()) is not None:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def _flow_run_state(api: str, run_id: str) -> str:
    return str(_rest(api, "GET", f"/flow_runs/{run_id}")["state"]["type"])


def _artifact_ids(api: str, run_id: str) -> dict[str, str]:
    found = _rest(api, "POST", "/artifacts/filter",
                  {"artifacts": {"flow_run_id": {"any_": [run_id]}}})  # fmt: skip
    return {a["key"]: a["id"] for a in found}


def _pm(sandbox: SandboxServer, method: str, path: str, body: object = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our loopback sandbox
        f"{sandbox.url}/api/1.0{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {sandbox.config.pat}",
                 "Content-Type": "application/json"},
        method=method,
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.load(response)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--width", type=int, default=1440, help="window width, pixels")
    parser.add_argument("--height", type=int, default=1000, help="window height, pixels")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium not found: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    config = SandboxConfig(port=0, records=1000, seed=1)
    with (
        tempfile.TemporaryDirectory(prefix="pm-review-") as scratch,
        DevVault() as vault,
        SandboxServer(config) as sandbox,
    ):
        vault.put(SECRET.removeprefix("secret/"), {
            "client_id": config.client_id, "client_secret": config.client_secret,
            "username": config.username, "password": config.password,
        })  # fmt: skip
        port = free_port()
        ui = f"http://127.0.0.1:{port}"
        api = f"{ui}/api"
        env = {
            **os.environ, "PREFECT_HOME": scratch, "PREFECT_API_URL": api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
            "VAULT_ADDR": vault.addr, "VAULT_TOKEN": vault.token, "VAULT_AUTH_METHOD": "token",
            "PROCESSMAKER_URL": sandbox.url, "PROCESSMAKER_SECRET": SECRET,
        }  # fmt: skip
        with (Path(scratch) / "server.log").open("wb") as log:
            server = subprocess.Popen(
                [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                 str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        worker = None
        browser = None
        try:
            wait_healthy(api, server)
            _prefect(env, "work-pool", "create", "processmaker", "--type", "process")
            _prefect(env, "deploy", "--name", "review-tasks")
            (deployment,) = _rest(api, "POST", "/deployments/filter", {})
            run = _rest(api, "POST", f"/deployments/{deployment['id']}/create_flow_run",
                        {"parameters": {"pmql": "user_id = 6", "limit": 12}})  # fmt: skip
            worker = subprocess.Popen(
                [str(BIN / "prefect"), "worker", "start", "--pool", "processmaker", "--run-once"],
                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            _wait(lambda: _flow_run_state(api, run["id"]) == "PAUSED" or None, "the pause", 300)
            browser = Browser(chromium, Path(scratch) / "chromium", args.width, args.height)
            preview = _artifact_ids(api, run["id"])["processmaker-review-preview"]
            browser.open(f"{ui}/artifacts/artifact/{preview}", "Open ProcessMaker tasks")
            browser.shoot(args.out / "review-preview.png")
            browser.open(f"{ui}/runs/flow-run/{run['id']}", "Paused")
            browser.shoot(args.out / "review-paused.png")
            browser.click("Resume")
            browser.wait_for_text("Task ids")
            browser.shoot(args.out / "review-form.png")

            # The decision the form would send: three tasks of the preview (one closed by a
            # colleague meanwhile) and a typed id that was not in it.
            rows = _pm(sandbox, "GET", '/tasks?pmql=status%20%3D%20%22ACTIVE%22%20AND%20'
                       "user_id%20%3D%206&order_by=id&per_page=3")["data"]  # fmt: skip
            listed = [row["id"] for row in rows]
            _pm(sandbox, "PUT", f"/tasks/{listed[2]}", {"status": "COMPLETED", "data": {}})
            data = {"approved": True, "reviewer_note": "Q4 batch, checked"}
            decision = {"action": "complete", "task_ids": [*listed, 99999], "data": data}
            _rest(api, "POST", f"/flow_runs/{run['id']}/resume", {"run_input": decision})
            _wait(lambda: _flow_run_state(api, run["id"]) == "COMPLETED" or None, "the end", 300)
            result = _artifact_ids(api, run["id"])["processmaker-review-result"]
            browser.open(f"{ui}/artifacts/artifact/{result}", "Decision applied")
            browser.shoot(args.out / "review-result.png")
        finally:
            if browser is not None:
                browser.close()
            if worker is not None and worker.poll() is None:
                worker.kill()
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
