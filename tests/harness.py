"""The iamport sandbox in process, shared by every test package that talks to iamport.

``Sandbox`` builds the emulator, a ``requests`` session whose calls to ``API_URL`` go straight
into its WSGI app (no sockets), an ``IamportClient`` for the dashboard and a second one for the
test's own reads, and a clock function that makes the dashboard's time the sandbox's time.
Webhooks go through ``webhook_session``: ``deliver_to`` mounts the receiving app on it.

Only the control API (``/_sandbox``) moves time, injects faults or scripts cards; the tests
never reach into the emulator's internals except to read the clock.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import requests
from flask import Flask

from dashboard.iamport import IamportClient
from dashboard.iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, create_sandbox_app
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter
from tests.webhook_queue import DrainingAdapter

API_URL = "https://api.iamport.kr"
DASHBOARD_URL = "https://dashboard.test"
WEBHOOK_PATH = "/webhooks/iamport"
DAY = 86400
APPROVING_CARD = "5570-4200-0007-7221"
DECLINING_CARD = "5570-4200-0007-0002"  # ends in 0002: declined on every charge


def dashboard_config(database_url: str, **extra) -> dict:
    """Configuration of a dashboard under test on ``database_url``."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "WTF_CSRF_ENABLED": False,
        **extra,
    }


class Sandbox:
    """A sandbox app served in process, its control API, and clients bound to it."""

    def __init__(self, *, imp_key: str = DEFAULT_IMP_KEY, imp_secret: str = DEFAULT_IMP_SECRET,
                 webhook_url: str | None = DASHBOARD_URL + WEBHOOK_PATH, frozen: bool = False,
                 read_timeout: float = 2.0):
        self.imp_key = imp_key
        self.imp_secret = imp_secret
        self.webhook_session = requests.Session()
        # Resends on, as merchants ask PortOne for them; some scenarios count on a resend.
        self.sandbox_app = create_sandbox_app(imp_key, imp_secret, webhook_url=webhook_url,
                                              webhook_session=self.webhook_session,
                                              webhook_resends=True)
        self.state = self.sandbox_app.extensions["iamport_sandbox"]
        self.adapter = WSGIAdapter(self.sandbox_app)
        self.http = requests.Session()
        self.http.mount(API_URL, self.adapter)
        if frozen:
            # Exact times: the clock moves only when a test moves it.
            self.control("POST", "/clock", frozen=True)
        self.client = self.make_client(read_timeout=read_timeout)
        # A separate client for the test's own calls, so they never share the app's token.
        self.reader = self.make_client()

    def make_client(self, *, read_timeout: float = 2.0, **options) -> IamportClient:
        """Return a client on the in-process session: one read retry, no back-off."""
        options = {"session": self.http, "read_timeout": read_timeout, "read_retries": 1,
                   "retry_backoff": 0, **options}
        return IamportClient(API_URL, self.imp_key, self.imp_secret, **options)

    # --- wiring -------------------------------------------------------------------------

    def app_config(self) -> dict:
        """The dashboard settings that make it call this sandbox and live on its clock."""
        return {"IAMPORT_CLIENT": self.client, "CLOCK": self.clock()}

    def clock(self) -> Callable[[], datetime]:
        return lambda: datetime.fromtimestamp(self.state.now(), UTC)

    def deliver_to(self, app: Flask, base_url: str = DASHBOARD_URL, *,
                   run_queue: bool = True) -> None:
        """Deliver the webhooks addressed to ``base_url`` into ``app``, in process, and (for the
        dashboard) run its webhook queue after each delivery, as a prompt worker would."""
        adapter = DrainingAdapter(app) if run_queue else WSGIAdapter(app)
        self.webhook_session.mount(base_url, adapter)

    def lose_webhooks(self, base_url: str = DASHBOARD_URL) -> None:
        """Answer every webhook 200 and deliver none (a network that ate them)."""
        sink = Flask("sink")
        sink.add_url_rule(WEBHOOK_PATH, "sink", lambda: ("", 200), methods=["POST"])
        self.deliver_to(sink, base_url, run_queue=False)

    # --- the control API ----------------------------------------------------------------

    def control(self, method: str, endpoint: str, /, json_body=None, **fields):
        """Call ``/_sandbox<endpoint>`` with a JSON body (a dict/list, or keyword fields)."""
        body = json_body if json_body is not None else (fields or None)
        response = self.http.request(method, f"{API_URL}/_sandbox{endpoint}", json=body)
        assert response.status_code < 400, response.text
        return response.json() if response.content else None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.state.now(), UTC)

    def at(self, **delta) -> datetime:
        """Return a moment relative to the sandbox clock, e.g. ``at(days=1)``."""
        return self.now() + timedelta(**delta)

    def advance(self, seconds: float) -> int:
        """Move the sandbox clock (and so the dashboard's) forward; return the new time."""
        return self.control("POST", "/clock", advance=seconds)["now"]

    def set_now(self, unix: int) -> int:
        return self.control("POST", "/clock", now=unix)["now"]

    def run_due(self) -> list[str]:
        """Execute due schedules and send their webhooks; return the merchant_uids charged."""
        return self.control("POST", "/run-due")["executed"]

    def fault(self, path: str, **spec) -> dict:
        """Arm one fault (replacing the armed ones); ``None`` values are left out."""
        body = {"path": path, **{key: value for key, value in spec.items() if value is not None}}
        return self.control("PUT", "/faults", json_body=body)

    def clear_faults(self) -> dict:
        return self.control("DELETE", "/faults")

    def armed_faults(self) -> list[dict]:
        return self.control("GET", "/faults")["faults"]

    def webhooks(self) -> list[dict]:
        """Every webhook delivery attempt the sandbox made."""
        return self.control("GET", "/webhooks")

    def requests_log(self) -> list[dict]:
        """The API calls the sandbox received: method, path, parameter names, status."""
        return self.control("GET", "/requests")

    def calls(self, method: str, path: str) -> list[dict]:
        """The received API calls of one method and path."""
        return [c for c in self.requests_log() if c["method"] == method and c["path"] == path]

    def decline(self, customer_uid: str, decline: bool = True) -> dict:
        """Make every charge on a billing key decline (or approve again)."""
        return self.control("PUT", f"/customers/{customer_uid}/behavior",
                            outcome="decline" if decline else "approve")

    # --- iamport's side -----------------------------------------------------------------

    def issue_key(self, customer_uid: str, card_number: str = APPROVING_CARD, **holder):
        """Register a billing key as the shop's card form would."""
        return self.reader.issue_billing_key(
            customer_uid, card_number=card_number, expiry="2030-12", birth="900101",
            pwd_2digit="12", **holder,
        )
