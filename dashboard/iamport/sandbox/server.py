"""Serving the sandbox over real HTTP: in the foreground for the CLI, or in a thread for tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

from werkzeug.serving import make_server


def serve(host: str, port: int, app) -> None:
    """Serve the app over HTTP with one thread per request until interrupted."""
    server = make_server(host, port, app, threaded=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def start_in_thread(app, host: str = "127.0.0.1", port: int = 0
                    ) -> tuple[str, Callable[[], None]]:
    """Serve the app from a background thread; return its base URL and a stop function."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="iamport-sandbox-http",
                              daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()

    return f"http://{host}:{server.server_port}", stop
