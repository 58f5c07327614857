"""A live console for browser tests: the app over real HTTP on 127.0.0.1, the sandbox in process.

The browser loads htmx from its CDN address; ``route_htmx`` answers that address from the
pinned npm copy in ``tests/e2e/node_modules`` (tests have no internet), and every other
address outside 127.0.0.1 is refused.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server

from dashboard.htmx import HTMX_URL

NODE_MODULES = Path(__file__).parent / "node_modules"
HTMX_FILE = NODE_MODULES / "htmx.org" / "dist" / "htmx.min.js"
AXE_FILE = NODE_MODULES / "axe-core" / "axe.min.js"
# axe-core is answered at this path of the console's own origin (the CSP allows 'self').
AXE_PATH = "/_e2e/axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")


@contextmanager
def serve(app):
    """Serve ``app`` on a free port of 127.0.0.1 in a background thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def route_htmx(page) -> None:
    """Answer the htmx CDN address from the local copy; refuse everything else off-host."""

    def handle(route):
        url = route.request.url
        if url == HTMX_URL:
            route.fulfill(
                status=200,
                path=str(HTMX_FILE),
                content_type="application/javascript",
                # The script tag is cross-origin with an integrity hash: CORS must allow it.
                headers={"Access-Control-Allow-Origin": "*"},
            )
        elif url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", handle)


def route_assets(page) -> None:
    """Like ``route_htmx``, and also answer axe-core's path on 127.0.0.1 from the npm copy."""

    def handle(route):
        url = route.request.url
        if url == HTMX_URL:
            route.fulfill(status=200, path=str(HTMX_FILE), content_type="application/javascript",
                          headers={"Access-Control-Allow-Origin": "*"})
        elif url.startswith("http://127.0.0.1:") and url.endswith(AXE_PATH):
            route.fulfill(status=200, path=str(AXE_FILE), content_type="application/javascript")
        elif url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", handle)
