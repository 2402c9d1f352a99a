"""Screenshot the operator's forms in Debian's Chromium, for a person to look at.

``make screenshots`` (``apt-get install chromium`` first): a throwaway ``prefect server start``
with its UI, the four deployments of prefect.yaml, the block type and one example block, then
a headless Chromium (the system's; nothing is downloaded) saves each run form, the block form
and the block pages as PNG files under ``screenshots/``.
"""

from __future__ import annotations

import argparse
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

from processmaker_prefect.sandbox.openbao import free_port

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
]


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


def _shoot(chromium: str, url: str, target: Path, profile: Path, height: int) -> None:
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size=1280,{height}",
         "--virtual-time-budget=20000", f"--screenshot={target}", url],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--height", type=int, default=2000, help="window height, pixels")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium not found: apt-get install chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pm-forms-") as scratch:
        port = free_port()
        ui = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "PREFECT_HOME": scratch,
            "PREFECT_API_URL": f"{ui}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        with (Path(scratch) / "server.log").open("wb") as log:
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
            block_id = _example_block(env)
            pages = {"block-create": "/blocks/catalog/processmaker-connection/create",
                     "block-type": "/blocks/catalog/processmaker-connection",
                     "block": f"/blocks/block/{block_id}"}  # fmt: skip
            for deployment in _rest(env["PREFECT_API_URL"], "POST", "/deployments/filter", {}):
                pages[f"run-{deployment['name']}"] = (
                    f"/deployments/deployment/{deployment['id']}/run"
                )
            for name, path in sorted(pages.items()):
                target = args.out / f"{name}.png"
                _shoot(chromium, ui + path, target, Path(scratch) / "chromium", args.height)
                print(target)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
