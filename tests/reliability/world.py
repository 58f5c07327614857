"""A dashboard wired to an in-process sandbox through a webhook relay, and the money invariants.

``World`` is what every reliability test drives: the shared sandbox harness
(``tests.harness.Sandbox``: its control API and a client of its own for reading iamport's
side), the dashboard app on the sandbox's clock, and a ``Relay`` between the
sandbox's webhook sender and the dashboard that can pass, hold, duplicate or drop deliveries.
``build_world`` makes a fresh one on an emptied database; it is a context manager so that
property-based tests, which cannot use function fixtures, get a new world per example.

The checks at the bottom are the money rules as seen from outside: they read iamport's side
through the sandbox's API and ours through the database, never through the code under test.
"""
from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import requests
from flask import Flask, request

from dashboard import create_app, rollups
from dashboard.billing import sync
from dashboard.billing.periods import parse_merchant_uid
from dashboard.extensions import db
from dashboard.iamport import Payment as RemotePayment
from dashboard.models import Payment, Plan, Refund, Subscription, WebhookEvent
from tests.conftest import empty_all_tables
from tests.harness import DASHBOARD_URL, WEBHOOK_PATH, Sandbox, dashboard_config
from tests.webhook_queue import DrainingAdapter

RELAY_URL = "https://relay.test"
# iamport lists payments at most 90 days at a time.
LIST_WINDOW = timedelta(days=89)


# --- the webhook relay -----------------------------------------------------------------------


@dataclass
class Delivery:
    """One webhook body as the sandbox posted it."""

    body: bytes
    content_type: str

    @property
    def payload(self) -> dict:
        return json.loads(self.body) if "json" in self.content_type else {}


class Relay:
    """Stands between the sandbox and the dashboard and passes, holds, duplicates or drops.

    ``mode`` decides what happens to the next deliveries: ``pass`` forwards each once,
    ``duplicate`` forwards each twice, ``hold`` keeps them for a later ``release`` (the sandbox
    is told 200, as if a proxy had queued them), ``drop`` loses them (also answered 200: a
    network that ate the request after iamport's side considered it sent).
    """

    MODES = ("pass", "duplicate", "hold", "drop")

    def __init__(self, dashboard: Flask):
        self.mode = "pass"
        self.received: list[Delivery] = []
        self.forwarded: list[Delivery] = []
        self.held: list[Delivery] = []
        self.dropped: list[Delivery] = []
        self.answers: list[int] = []
        self._dashboard = DrainingAdapter(dashboard)
        self._sessions = threading.local()  # senders may post from several threads
        self.app = Flask("relay")
        self.app.add_url_rule(WEBHOOK_PATH, "relay", self._receive, methods=["POST"])

    def _receive(self):
        delivery = Delivery(request.get_data(), request.content_type or "")
        self.received.append(delivery)
        if self.mode == "hold":
            self.held.append(delivery)
            return "held", 200
        if self.mode == "drop":
            self.dropped.append(delivery)
            return "dropped", 200
        status = self.forward(delivery)
        if self.mode == "duplicate":
            status = self.forward(delivery)
        return "relayed", status

    def forward(self, delivery: Delivery) -> int:
        """Post one delivery to the dashboard and return its HTTP status."""
        session = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = requests.Session()
            session.mount(DASHBOARD_URL, self._dashboard)
        response = session.post(
            DASHBOARD_URL + WEBHOOK_PATH, data=delivery.body,
            headers={"Content-Type": delivery.content_type}, timeout=30,
        )
        self.forwarded.append(delivery)
        self.answers.append(response.status_code)
        return response.status_code

    def release(self, *, reverse: bool = False, twice: bool = False) -> int:
        """Forward every held delivery (newest first with ``reverse``); return how many."""
        held, self.held = self.held, []
        for delivery in reversed(held) if reverse else held:
            self.forward(delivery)
            if twice:
                self.forward(delivery)
        return len(held)


# --- the world -------------------------------------------------------------------------------


class World(Sandbox):
    """The sandbox (``tests.harness.Sandbox``: clock, faults, clients), the dashboard on its
    clock, and the relay between the sandbox's webhooks and the dashboard."""

    def __init__(self, database_url: str, *, billing_mode: str, read_timeout: float,
                 frozen: bool, config: dict | None):
        super().__init__(webhook_url=RELAY_URL + WEBHOOK_PATH, frozen=frozen,
                         read_timeout=read_timeout)
        engine_options = {}
        if database_url.startswith("postgres"):
            # The world runs in one thread: a row lock left held would otherwise hang the test
            # when a delivered webhook waits for it. Fail in seconds instead.
            engine_options = {"connect_args": {"options": "-c lock_timeout=10s"}}
        self.app = create_app(dashboard_config(
            database_url, SQLALCHEMY_ENGINE_OPTIONS=engine_options, BILLING_MODE=billing_mode,
            **self.app_config(), **(config or {}),
        ))
        self.relay = Relay(self.app)
        self.deliver_to(self.relay.app, RELAY_URL, run_queue=False)
        self.started_at = self.now()

    def remote_payments(self) -> list[RemotePayment]:
        """Every payment iamport holds, read through its list API in windows it accepts."""
        found: dict[str, RemotePayment] = {}
        start = self.started_at - timedelta(minutes=1)
        until = self.now() + timedelta(minutes=1)
        while start < until:
            end = min(start + LIST_WINDOW, until)
            for payment in self.reader.iter_pages(
                lambda page, s=start, e=end: self.reader.list_payments(
                    "all", since=s, until=e, page=page, limit=100)
            ):
                found[payment.imp_uid] = payment
            start = end
        return list(found.values())

    def settle(self) -> sync.SyncSummary:
        """Clear faults, deliver what is held, move past the grace period and run a sync."""
        self.clear_faults()
        self.relay.mode = "pass"
        self.relay.release()
        self.advance(int(sync.GRACE.total_seconds()) + 60)
        days = max(1, (self.now() - self.started_at).days + 2)
        summary = sync.run_sync(days=days)
        db.session.expire_all()
        return summary


@contextmanager
def build_world(database_url: str, *, billing_mode: str = "schedule", read_timeout: float = 2.0,
                frozen: bool = True, config: dict | None = None):
    """Yield a fresh world on an emptied database, inside the dashboard's app context."""
    world = World(database_url, billing_mode=billing_mode, read_timeout=read_timeout,
                  frozen=frozen, config=config)
    with world.app.app_context():
        empty_all_tables()
        try:
            yield world
        finally:
            db.session.remove()
            db.engine.dispose()


def add_plan(code: str = "basic", amount: int = 9900, credits: int | None = 100,
             name: str = "베이직 월간") -> Plan:
    plan = Plan(code=code, name=name, amount=amount, credits_per_period=credits)
    db.session.add(plan)
    db.session.commit()
    return plan


# --- the invariants --------------------------------------------------------------------------


@dataclass
class Findings:
    """Broken invariants, each a sentence naming the record."""

    problems: list[str] = field(default_factory=list)

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def __bool__(self) -> bool:
        return bool(self.problems)


def period_of(merchant_uid: str) -> tuple[int, int] | None:
    key = parse_merchant_uid(merchant_uid)
    return None if key is None else (key.subscription_id, key.period)


def check_no_double_charge(world: World, findings: Findings) -> None:
    """At most one successful payment per subscription period, at iamport and here."""
    remote = Counter(
        period_of(p.merchant_uid) for p in world.remote_payments()
        if p.paid_at is not None and period_of(p.merchant_uid) is not None
    )
    for key, count in remote.items():
        if count > 1:
            findings.add(f"iamport charged subscription {key[0]} period {key[1]} {count} times")
    local = Counter(
        (p.subscription_id, p.period) for p in db.session.scalars(
            db.select(Payment).where(Payment.paid_at.is_not(None), Payment.period.is_not(None)))
    )
    for key, count in local.items():
        if count > 1:
            findings.add(f"we recorded subscription {key[0]} period {key[1]} paid {count} times")


def check_refunds_within_paid(world: World, findings: Findings) -> None:
    """Never more refunded than paid, at iamport and here (rows and refund records)."""
    for remote in world.remote_payments():
        history = sum(entry.amount for entry in remote.cancel_history)
        if remote.cancel_amount > remote.amount or history != remote.cancel_amount:
            findings.add(f"iamport {remote.imp_uid}: cancelled {remote.cancel_amount} "
                         f"(history {history}) of {remote.amount}")
    refunded = defaultdict(int)
    for refund in db.session.scalars(db.select(Refund).where(Refund.status == "succeeded")):
        refunded[refund.payment_id] += refund.amount
    for payment in db.session.scalars(db.select(Payment)):
        if payment.cancel_amount > payment.amount:
            findings.add(f"{payment.merchant_uid}: cancel_amount {payment.cancel_amount} "
                         f"> amount {payment.amount}")
        if refunded[payment.id] > payment.amount:
            findings.add(f"{payment.merchant_uid}: refunds total {refunded[payment.id]} "
                         f"> amount {payment.amount}")


def check_no_lost_event(world: World, findings: Findings) -> None:
    """Every delivery the dashboard received is stored, body for body."""
    stored = Counter(db.session.scalars(db.select(WebhookEvent.raw_body)).all())
    forwarded = Counter(delivery.body for delivery in world.relay.forwarded)
    if stored != forwarded:
        findings.add(f"stored events differ from deliveries: missing {forwarded - stored}, "
                     f"extra {stored - forwarded}")
    if any(status >= 500 and status != 503 for status in world.relay.answers):
        findings.add(f"the webhook endpoint answered {sorted(set(world.relay.answers))}")


def check_invariants(world: World) -> Findings:
    """The invariants that hold after every step, whatever is still pending."""
    db.session.expire_all()
    findings = Findings()
    check_no_double_charge(world, findings)
    check_refunds_within_paid(world, findings)
    check_no_lost_event(world, findings)
    check_rollups(findings)
    return findings


def check_rollups(findings: Findings) -> None:
    """The overview's rollups equal a recount of the rows they count."""
    stored, recounted = rollups.stored(), rollups.recount()
    for key in sorted(set(stored) | set(recounted), key=str):
        if stored.get(key, 0) != recounted.get(key, 0):
            findings.add(f"rollup {key} is {stored.get(key, 0)}, a recount says "
                         f"{recounted.get(key, 0)}")


def check_settled(world: World) -> Findings:
    """After a sync past the grace period: the invariants, nothing pending, and every
    payment here says what iamport says (status, amount, cancelled amount)."""
    findings = check_invariants(world)
    for payment in db.session.scalars(db.select(Payment).where(Payment.status == "pending")):
        findings.add(f"payment {payment.merchant_uid} is still pending")
    for refund in db.session.scalars(db.select(Refund).where(Refund.status == "pending")):
        findings.add(f"refund {refund.id} of payment {refund.payment_id} is still pending")
    for event in db.session.scalars(db.select(WebhookEvent).where(
            WebhookEvent.state.in_(("received", "failed")))):
        findings.add(f"webhook event {event.id} ({event.imp_uid}) is left {event.state}")
    # iamport may retry a merchant_uid under a new imp_uid: compare with the latest attempt.
    latest = {merchant_uid: world.reader.find_payment(merchant_uid)
              for merchant_uid in {p.merchant_uid for p in world.remote_payments()}}
    for merchant_uid, theirs in latest.items():
        ours = db.session.scalar(db.select(Payment).where(Payment.merchant_uid == merchant_uid))
        if ours is None:
            findings.add(f"iamport payment {merchant_uid} is missing here")
            continue
        expected = {"ready": "pending"}.get(theirs.status, theirs.status)
        mine = (ours.imp_uid, ours.status, ours.amount, ours.cancel_amount)
        their = (theirs.imp_uid, expected, theirs.amount, theirs.cancel_amount)
        if mine != their:
            findings.add(f"{merchant_uid}: ours {mine} != iamport's {their}")
        refunded = sum(r.amount for r in ours.refunds if r.status == "succeeded")
        if refunded != theirs.cancel_amount:
            findings.add(f"{merchant_uid}: refunds here total {refunded}, "
                         f"iamport cancelled {theirs.cancel_amount}")
    for ours in db.session.scalars(db.select(Payment).where(Payment.imp_uid.is_not(None))):
        if ours.merchant_uid not in latest:
            findings.add(f"{ours.merchant_uid} is here but not at iamport")
    return findings


def subscription_summary(subscription_id: int) -> tuple:
    db.session.expire_all()
    sub = db.session.get(Subscription, subscription_id)
    return (sub.status, sub.current_period, sub.failed_attempts)
