"""``make screenshots`` takes each picture once the page has settled, not mid fade-in.

Debian's Chromium, driven over DevTools as tests/screenshot_forms.py drives it, on a page that
fades in the way Prefect's UI does (a CSS animation started after a late fetch); skipped
without Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.screenshot_forms import chromium_page

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed")

# The form arrives after a slow request, then fades in over 1.5 s, as a run form does.
PAGE = b"""<!doctype html><html><head><style>
@keyframes fade { from { opacity: 0 } to { opacity: 1 } }
.form { animation: fade 1.5s ease-in; }
</style></head><body><div id="root">loading</div><script>
fetch('/slow').then(r => r.text()).then(t => {
  document.getElementById('root').innerHTML = '<div class="form" id="form">' + t + '</div>';
});
</script></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            threading.Event().wait(1.0)  # the API answering late
            body = b"Run Name"
        else:
            body = PAGE
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if body is PAGE else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_the_picture_waits_for_the_late_request_and_the_fade_in(site: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    with chromium_page(CHROMIUM, tmp_path / "profile", 800, 600) as page:
        page.goto(site)
        state = page.evaluate(
            "(() => { const f = document.getElementById('form');"
            " return f && [f.textContent, getComputedStyle(f).opacity,"
            " document.getAnimations().filter(a => a.playState === 'running').length]; })()"
        )
        page.screenshot(tmp_path / "form.png", selector="#form")
    assert state == ["Run Name", "1", 0]
    png = (tmp_path / "form.png").read_bytes()
    assert png.startswith(b"\x89PNG")
