"""Fixtures for the client tests: a fresh sandbox served in process and a client bound to it.

The client's session reaches the sandbox's WSGI app through ``WSGIAdapter`` (no sockets),
wrapped in ``RecordingAdapter`` so tests can see every exchange the client made, with the
response body, for the contract checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from dashboard.iamport import IamportClient
from dashboard.iamport.sandbox import create_sandbox_app
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter

API_URL = "https://api.iamport.kr"
IMP_KEY = "client_test_key"
IMP_SECRET = "client-test-secret-5b1f0e2d9c"
GOOD_CARD = "5570-4200-1237-7221"  # KB국민카드, approves
DECLINED_CARD = "4518-4200-0005-0002"  # ends in 0002: declined on every charge
READ_TIMEOUT = 0.25  # small, so timeout faults cost a fraction of a second


@dataclass
class Exchange:
    """One request the client sent and what came back (no header values are kept)."""

    method: str
    path: str
    query: dict
    body: object
    status: int | None = None
    response: object = None
    error: str | None = None


class RecordingAdapter(BaseAdapter):
    """Pass requests to another adapter and remember each exchange."""

    def __init__(self, inner: BaseAdapter):
        super().__init__()
        self.inner = inner
        self.exchanges: list[Exchange] = []

    def send(self, request, **kwargs):
        url = urlsplit(request.url)
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        exchange = Exchange(
            method=request.method,
            path=url.path,
            query=dict(parse_qsl(url.query)),
            body=json.loads(body) if body else None,
        )
        self.exchanges.append(exchange)
        try:
            response = self.inner.send(request, **kwargs)
        except requests.RequestException as error:
            exchange.error = type(error).__name__
            raise
        exchange.status = response.status_code
        try:
            exchange.response = response.json()
        except ValueError:
            exchange.response = response.text
        return response

    def close(self):
        self.inner.close()

    def calls(self, method: str, path: str) -> list[Exchange]:
        """Return the exchanges for one method and path."""
        return [e for e in self.exchanges if e.method == method and e.path == path]


class Sandbox:
    """A sandbox app with its control API, reached through the same in-process adapter."""

    def __init__(self, app, adapter: WSGIAdapter):
        self.app = app
        self.state = app.extensions["iamport_sandbox"]
        self._control = requests.Session()
        self._control.mount(API_URL, adapter)

    def control(self, method: str, path: str, payload=None):
        response = self._control.request(method, f"{API_URL}/_sandbox{path}", json=payload)
        assert response.status_code < 400, response.text
        return response.json()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.control("GET", "/clock")["now"], UTC)

    def at(self, **delta) -> datetime:
        """Return a moment relative to the sandbox clock, e.g. ``at(days=1)``."""
        return self.now() + timedelta(**delta)

    def advance(self, seconds: float) -> None:
        self.control("POST", "/clock", {"advance": seconds})

    def run_due(self) -> list[str]:
        return self.control("POST", "/run-due")["executed"]

    def fault(self, path: str, **spec) -> None:
        self.control("PUT", "/faults", {"path": path, **spec})

    def decline(self, customer_uid: str) -> None:
        self.control("PUT", f"/customers/{customer_uid}/behavior", {"outcome": "decline"})

    def requests(self) -> list[dict]:
        """Return the API calls the sandbox received (names only)."""
        return self.control("GET", "/requests")


@pytest.fixture
def sandbox_app():
    return create_sandbox_app(IMP_KEY, IMP_SECRET)


@pytest.fixture
def wsgi_adapter(sandbox_app):
    return WSGIAdapter(sandbox_app)


@pytest.fixture
def sandbox(sandbox_app, wsgi_adapter) -> Sandbox:
    return Sandbox(sandbox_app, wsgi_adapter)


@pytest.fixture
def recorder(wsgi_adapter) -> RecordingAdapter:
    return RecordingAdapter(wsgi_adapter)


@pytest.fixture
def make_client(recorder):
    """Build clients on the recorded in-process session; keyword arguments override defaults."""

    def make(**overrides) -> IamportClient:
        session = requests.Session()
        session.mount(API_URL, recorder)
        options = {
            "session": session,
            "read_timeout": READ_TIMEOUT,
            "connect_timeout": 0.25,
            "retry_backoff": 0.001,
        }
        options.update(overrides)
        imp_key = options.pop("imp_key", IMP_KEY)
        imp_secret = options.pop("imp_secret", IMP_SECRET)
        return IamportClient(API_URL, imp_key, imp_secret, **options)

    return make


@pytest.fixture
def iamport(make_client) -> IamportClient:
    return make_client()


@pytest.fixture
def billing_key(iamport):
    """A billing key on a card that approves."""
    return iamport.issue_billing_key(
        "cust_good", card_number=GOOD_CARD, expiry="2030-12", birth="900101", pwd_2digit="12",
        customer_name="홍길동", customer_tel="01012345678", customer_email="hong@example.com",
    )
