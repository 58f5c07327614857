"""The dashboard wired to an in-process sandbox both ways: the client's session calls the
sandbox's WSGI app, and the sandbox delivers webhooks into the dashboard's WSGI app. The
dashboard's clock is the sandbox's clock, so tests move time for both at once."""
from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import requests

from dashboard.extensions import db
from dashboard.iamport import IamportClient
from dashboard.iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, create_sandbox_app
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter
from dashboard.models import Plan
from tests.webhook_queue import DrainingAdapter

API_URL = "https://api.iamport.kr"
DASHBOARD_URL = "https://dashboard.test"
DAY = 86400


class Sandbox(SimpleNamespace):
    """The sandbox app, its state, and a session for its control API."""

    def control(self, method: str, endpoint: str, /, **json):
        response = self.http.request(method, f"{API_URL}/_sandbox{endpoint}", json=json or None)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def fault(self, **spec):
        return self.control("PUT", "/faults", **spec)

    def advance(self, seconds: int) -> int:
        return self.control("POST", "/clock", advance=seconds)["now"]

    def run_due(self) -> list[str]:
        return self.control("POST", "/run-due")["executed"]

    def webhooks(self) -> list[dict]:
        return self.control("GET", "/webhooks")

    def issue_key(self, customer_uid: str, card_number: str = "5570-4200-0000-7221", **holder):
        client = self.client
        return client.issue_billing_key(
            customer_uid, card_number=card_number, expiry="2030-12", birth="900101",
            pwd_2digit="12", **holder,
        )


@pytest.fixture
def sandbox():
    webhook_session = requests.Session()
    app = create_sandbox_app(
        webhook_url=f"{DASHBOARD_URL}/webhooks/iamport", webhook_session=webhook_session
    )
    http = requests.Session()
    http.mount(API_URL, WSGIAdapter(app))
    client = IamportClient(
        API_URL, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, session=http, read_timeout=2,
        read_retries=1, retry_backoff=0,
    )
    return Sandbox(
        app=app, state=app.extensions["iamport_sandbox"], http=http, client=client,
        webhook_session=webhook_session,
    )


def sandbox_clock(state):
    return lambda: datetime.fromtimestamp(state.now(), UTC)


@pytest.fixture
def app_config(app_config, sandbox):
    return {
        **app_config,
        "IAMPORT_CLIENT": sandbox.client,
        "CLOCK": sandbox_clock(sandbox.state),
    }


@pytest.fixture
def app(app, sandbox):
    """The dashboard, receiving the sandbox's webhooks in process."""
    sandbox.webhook_session.mount(DASHBOARD_URL, DrainingAdapter(app))
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def plan(app):
    plan = Plan(code="basic", name="베이직 월간", amount=9900, credits_per_period=100)
    db.session.add(plan)
    db.session.commit()
    return plan
