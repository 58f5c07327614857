"""Fixtures for the client tests: a fresh sandbox served in process and a client bound to it.

The sandbox is ``tests.harness.Sandbox``. The client's session reaches its WSGI app through
``WSGIAdapter`` (no sockets), wrapped in ``RecordingAdapter`` so tests can see every exchange
the client made, with the response body, for the contract checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from dashboard.iamport import IamportClient
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter
from tests.harness import API_URL, Sandbox

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


@pytest.fixture
def sandbox() -> Sandbox:
    """A sandbox with this package's own API keys; it sends no webhooks."""
    return Sandbox(imp_key=IMP_KEY, imp_secret=IMP_SECRET, webhook_url=None)


@pytest.fixture
def wsgi_adapter(sandbox) -> WSGIAdapter:
    """The in-process transport into the sandbox (tests may make it refuse connections)."""
    return sandbox.adapter


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
