"""A ProcessMaker-compatible list server for benchmarks: pre-rendered records, served as bytes.

``python -m bench._page_server '<json>'`` (``records``, ``latency_ms``, ``rendered``) serves
``GET /api/1.0/requests`` and ``POST /oauth/token`` on a free port and prints ``READY <url>``.
Every request record is rendered once at start, by the sandbox's own seed and serialiser
(``include=data``: about 1.5 KB each), and a page is the join of its records' bytes: the
server's CPU per page is a few hundred microseconds, so the figures measure the client, not
the server (the sandbox spends tens of milliseconds of CPU per page, on the same two cores).

What it honours, and nothing more: ``page``/``per_page`` in id order (the hand-written
loops), and the ``id`` bounds of a PMQL filter (``id > a AND id <= b``, OR-ed ranges: the sync's
id-range plan), with ``meta.total`` counting the rows matched. Time clauses are ignored: every
record is inside the first sync's window, which is what a first sync reads. ``latency_ms``
is slept in the request's own thread before each list answer, as a remote server's time is.
Records past ``rendered`` are the rendered ones again under new ids, rendered per request
(for the memory figure of a million records, where the server's CPU is not what is timed).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import jwt
import orjson

from processmaker_prefect.sandbox.config import SandboxConfig
from processmaker_prefect.sandbox.serializers import requests_json
from processmaker_prefect.sandbox.store import Store

__all__ = ["PageData", "main", "page_server"]

_RANGE = re.compile(r"\bid\s*(>|<=)\s*(\d+)")
_OR = re.compile(r"\)\s*OR\s*\(")


class PageData:
    """Rendered request records by id (ids 1..records)."""

    def __init__(self, records: int, rendered: int) -> None:
        self.records = records
        base = max(1, min(records, rendered))
        store = Store(SandboxConfig(records=base))
        try:
            rows = store.db.execute("SELECT * FROM requests ORDER BY id").fetchall()
            bodies = requests_json(store, rows, {"data"})
        finally:
            store.close()
        self.bodies = bodies[:1000]  # the models of the records past ``rendered``
        self.rendered = [orjson.dumps(b) for b in bodies]
        self.size = sum(map(len, self.rendered)) / max(len(self.rendered), 1)

    def record(self, ident: int) -> bytes:
        if ident <= len(self.rendered):
            return self.rendered[ident - 1]
        base = self.bodies[(ident - 1) % len(self.bodies)]
        return orjson.dumps({**base, "id": ident, "case_number": ident})

    def matching(self, pmql: str | None) -> list[tuple[int, int]]:
        """The ``(lo, hi]`` id ranges a PMQL filter selects, clipped to the data."""
        if not pmql:
            return [(0, self.records)]
        ranges = []
        # The id condition is the last AND-ed clause: "(...) AND ((id > a AND id <= b) OR ...)".
        for part in _OR.split(pmql):
            lo, hi = 0, self.records
            for op, value in _RANGE.findall(part):
                if op == ">":
                    lo = max(lo, int(value))
                else:
                    hi = min(hi, int(value))
            if lo < hi:
                ranges.append((lo, hi))
        return ranges

    def page(self, query: dict[str, str], url: str) -> bytes:
        per_page = int(query.get("per_page", "10"))
        page = int(query.get("page", "1"))
        ranges = self.matching(query.get("pmql"))
        total = sum(hi - lo for lo, hi in ranges)
        skip, ids = (page - 1) * per_page, []
        for lo, hi in sorted(ranges):
            if skip >= hi - lo:
                skip -= hi - lo
                continue
            ids.extend(range(lo + 1 + skip, min(hi, lo + skip + per_page - len(ids)) + 1))
            skip = 0
            if len(ids) >= per_page:
                break
        last = max(1, -(-total // per_page))
        meta = {
            "filter": "", "sort_by": "id", "sort_order": "asc", "count": len(ids),
            "total_pages": last, "current_page": page, "from": (page - 1) * per_page + 1
            if ids else None, "last_page": last, "links": [], "path": url,
            "per_page": per_page, "to": (page - 1) * per_page + len(ids) if ids else None,
            "total": total,
        }  # fmt: skip
        return b"".join(
            (b'{"data":[', b",".join(map(self.record, ids)), b'],"meta":', orjson.dumps(meta), b"}")
        )


def _token() -> bytes:
    now = int(time.time())
    # Unsigned in spirit: the client reads exp and sub, the server alone would verify it.
    access = jwt.encode(
        {"aud": "1", "jti": "bench", "iat": now, "nbf": now, "exp": now + 31_536_000,
         "sub": "1", "scopes": []}, "bench-only-key-of-32-bytes-or-more!", algorithm="HS256",
    )  # fmt: skip
    return orjson.dumps({"token_type": "Bearer", "expires_in": 31_536_000,
                         "access_token": access, "refresh_token": "bench-refresh"})  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' pools expect
    data: PageData
    latency: float
    token: bytes
    lock = threading.Lock()
    served: dict[str, int] = {}  # noqa: RUF012 - one server per process

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _count(self, route: str) -> None:
        with self.lock:
            self.served[route] = self.served.get(route, 0) + 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/oauth/token"):
            self._count("POST /oauth/token")
            self._send(200, self.token)
        else:
            self._send(404, b'{"error":"Not Found"}')

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/bench/stats":
            with self.lock:
                self._send(200, orjson.dumps(self.served))
            return
        if parts.path != "/api/1.0/requests":
            self._send(404, b'{"error":"Not Found"}')
            return
        self._count("GET /api/1.0/requests")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = self.data.page(query, f"http://{self.headers.get('Host')}/api/1.0/requests")
        if self.latency:
            time.sleep(self.latency)
        self._send(200, body)


@contextmanager
def page_server(records: int, latency_ms: int = 0) -> Iterator[tuple[str, float]]:
    """This server in a child process; yields its base URL and the mean record size (bytes)."""
    args = json.dumps({"records": records, "latency_ms": latency_ms})
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._page_server", args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"the page server did not start (exit {process.poll()})")
        yield ready[1], float(ready[2])
    finally:
        process.terminate()
        process.wait(timeout=30)


def stats(url: str) -> dict[str, int]:
    """Requests served by route."""
    return dict(orjson.loads(urlopen(f"{url}/bench/stats", timeout=30).read()))  # noqa: S310


def main() -> None:
    args: dict[str, Any] = json.loads(sys.argv[1])
    _Handler.data = PageData(args["records"], args.get("rendered", 200_000))
    _Handler.latency = args.get("latency_ms", 0) / 1000
    _Handler.token = _token()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    print(f"READY http://127.0.0.1:{server.server_port} {_Handler.data.size:.0f}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
