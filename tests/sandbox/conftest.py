"""Fixtures for the sandbox tests: a sandbox served in process, a webhook receiver, a client.

Every API response the ``api`` client receives is validated against the official schema
subset (``tests.contract.schema.validate_response``), so each test is also a contract test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import requests
from flask import Flask, request

from dashboard.iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, create_sandbox_app
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter
from tests.contract.schema import validate_response

API = "https://api.iamport.kr"
SHOP = "http://shop.test"
WEBHOOK_URL = f"{SHOP}/iamport/webhook"
GOOD_CARD = "5570-4200-1237-7221"  # KB국민카드 (BIN 557042), approves
DECLINED_CARD = "4518-4200-0005-0002"  # ends in 0002: declined on every charge


@dataclass
class Receiver:
    """A merchant server that records webhooks and answers with scripted statuses."""

    app: Flask
    adapter: WSGIAdapter
    calls: list = field(default_factory=list)
    statuses: list = field(default_factory=list)  # answered in order, then 200


def make_receiver() -> Receiver:
    """Build a recording webhook receiver app."""
    app = Flask("receiver")
    receiver = Receiver(app=app, adapter=WSGIAdapter(app))

    @app.post("/<path:path>")
    def receive(path):
        receiver.calls.append({"path": "/" + path, "content_type": request.mimetype,
                               "json": request.get_json(silent=True),
                               "form": request.form.to_dict(), "raw": request.get_data()})
        status = receiver.statuses.pop(0) if receiver.statuses else 200
        return "", status

    return receiver


class Api:
    """A requests client for the sandbox that validates every API response body."""

    def __init__(self, session: requests.Session, base: str = API):
        self.session = session
        self.base = base
        self._token = None

    def token(self) -> str:
        """Return an access token from the sandbox."""
        response = self.post("/users/getToken", auth=False,
                             json={"imp_key": DEFAULT_IMP_KEY, "imp_secret": DEFAULT_IMP_SECRET})
        return response.json()["response"]["access_token"]

    def request(self, method: str, path: str, *, auth=True, validate=True, **kwargs):
        """Send a request and check the body against the schema.

        With ``auth=True`` a token is fetched (again after a 401, as the clock may have moved
        past its expiry); a string is sent as the Authorization header; False sends none.
        """
        headers = dict(kwargs.pop("headers", None) or {})
        if auth is True:
            self._token = self._token or self.token()
            headers["Authorization"] = f"Bearer {self._token}"
        elif isinstance(auth, str):
            headers["Authorization"] = auth
        response = self.session.request(method, self.base + path, headers=headers, **kwargs)
        if auth is True and response.status_code == 401 and self._token:
            self._token = self.token()
            headers["Authorization"] = f"Bearer {self._token}"
            response = self.session.request(method, self.base + path, headers=headers, **kwargs)
        if validate and not path.startswith("/_sandbox"):
            validate_response(method, path, response.status_code, response.json())
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    # Shortcuts for the common set-up steps; each asserts success.

    def issue_key(self, customer_uid: str, card_number: str = GOOD_CARD, **extra) -> dict:
        body = {"card_number": card_number, "expiry": "2030-12", "birth": "880101",
                "pwd_2digit": "12", "customer_name": "홍길동", "customer_tel": "01012345678",
                **extra}
        response = self.post(f"/subscribe/customers/{customer_uid}", json=body)
        assert response.json()["code"] == 0, response.json()
        return response.json()["response"]

    def again(self, customer_uid: str, merchant_uid: str, amount: int = 8900, *,
              validate=True, timeout=None, **extra):
        body = {"customer_uid": customer_uid, "merchant_uid": merchant_uid, "amount": amount,
                "name": "월간 이용권", **extra}
        return self.post("/subscribe/payments/again", json=body, validate=validate,
                         timeout=timeout)

    def schedule(self, customer_uid: str, *items: tuple[str, int], amount: int = 8900):
        body = {"customer_uid": customer_uid, "schedules": [
            {"merchant_uid": merchant_uid, "schedule_at": at, "amount": amount,
             "name": "월간 이용권"} for merchant_uid, at in items]}
        return self.post("/subscribe/payments/schedule", json=body)


@pytest.fixture
def receiver() -> Receiver:
    return make_receiver()


@pytest.fixture
def webhook_session(receiver) -> requests.Session:
    session = requests.Session()
    session.mount(SHOP, receiver.adapter)
    return session


@pytest.fixture
def sandbox_app(webhook_session):
    app = create_sandbox_app(webhook_url=WEBHOOK_URL, webhook_session=webhook_session)
    app.extensions["iamport_sandbox"].freeze_clock()  # exact times: nothing ticks mid-test
    return app


@pytest.fixture
def state(sandbox_app):
    return sandbox_app.extensions["iamport_sandbox"]


@pytest.fixture
def session(sandbox_app) -> requests.Session:
    session = requests.Session()
    session.mount(API, WSGIAdapter(sandbox_app))
    return session


@pytest.fixture
def api(session) -> Api:
    return Api(session)
