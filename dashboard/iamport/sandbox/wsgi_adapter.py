"""A ``requests`` transport that calls a WSGI app in process: real HTTP semantics, no sockets.

Mount it on a session for a URL prefix::

    session.mount("https://api.iamport.kr", WSGIAdapter(sandbox_app))

Method, path, query, headers and body reach the app as they would over the network, and the
answer comes back as an ordinary ``requests.Response`` (cookies included). Timeouts are
emulated after the fact: the app always runs to completion (so work it commits stays
committed, as on a real server), and when it took longer than the read timeout passed to
``send()`` the caller gets ``requests.exceptions.ReadTimeout`` instead of the response.
Set ``refuse_connections = True`` to make every call raise ``ConnectionError``, as for a
receiver that is down.
"""

from __future__ import annotations

import io
import time
from datetime import timedelta
from email.message import Message
from types import SimpleNamespace
from urllib.parse import urlsplit

from requests import Response
from requests.adapters import BaseAdapter
from requests.cookies import extract_cookies_to_jar
from requests.exceptions import ConnectionError, ReadTimeout
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.test import EnvironBuilder, run_wsgi_app


def _body_bytes(body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return _body_bytes(body.read())
    return b"".join(_body_bytes(chunk) for chunk in body)


def _read_timeout(timeout) -> float | None:
    if isinstance(timeout, tuple):
        return timeout[1]
    return timeout


class _RawBody(io.BytesIO):
    """The response body, shaped enough like urllib3's response for cookie extraction."""

    def __init__(self, content: bytes, headers: list[tuple[str, str]]):
        super().__init__(content)
        message = Message()
        for name, value in headers:
            message[name] = value
        self._original_response = SimpleNamespace(msg=message)


class WSGIAdapter(BaseAdapter):
    """Serve ``requests`` calls by calling a WSGI application in the same process."""

    def __init__(self, app):
        super().__init__()
        self.app = app
        self.refuse_connections = False

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        """Run the request through the WSGI app and return its response."""
        if self.refuse_connections:
            raise ConnectionError(f"Connection refused: {request.url}", request=request)
        url = urlsplit(request.url)
        builder = EnvironBuilder(
            path=url.path or "/",
            base_url=f"{url.scheme}://{url.netloc}",
            query_string=url.query,
            method=request.method,
            headers=list(request.headers.items()),
            data=_body_bytes(request.body),
            environ_overrides={"REMOTE_ADDR": "127.0.0.1"},
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        started = time.monotonic()
        app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
        content = b"".join(app_iter)
        elapsed = time.monotonic() - started
        read_timeout = _read_timeout(timeout)
        if read_timeout is not None and elapsed > read_timeout:
            raise ReadTimeout(
                f"{url.netloc}: Read timed out. (read timeout={read_timeout})", request=request)
        return self._build_response(request, status, list(headers.items()), content, elapsed)

    def _build_response(self, request, status: str, headers, content: bytes, elapsed: float):
        code, _, reason = status.partition(" ")
        response = Response()
        response.status_code = int(code)
        response.reason = reason
        response.headers = CaseInsensitiveDict(headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = _RawBody(content, headers)
        response._content = content
        response.url = request.url
        response.request = request
        response.connection = self
        response.elapsed = timedelta(seconds=elapsed)
        extract_cookies_to_jar(response.cookies, request, response.raw)
        return response

    def close(self):
        """Release nothing: the adapter holds no connections."""
