"""The offline demo: the sandbox and the dashboard together, with a year of realistic history.

This is the one place (with the ``sandbox`` command) where the dashboard starts the sandbox.
The history is made the way production makes it: the sandbox's clock starts a year ago and
moves day by day; subscriptions start, schedules run, webhooks arrive, cards decline and are
retried, staff refund and cancel, all through the same billing functions and the V1 API.
"""
from __future__ import annotations

import random
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import requests
from flask import Flask

from . import create_app, staff, write_private_file
from .billing import audit, errors, intake, lifecycle, plans, provider, refunds, webhooks
from .clock import now
from .config import INSTANCE_PATH
from .extensions import db
from .iamport import IamportClient
from .iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, create_sandbox_app
from .iamport.sandbox.wsgi_adapter import WSGIAdapter
from .models import AdminUser, Payment, Schedule, Subscription
from .schema import ensure_schema

DAY = 86400
DEMO_PASSWORD = "demo-password-2026"
DEMO_USERS = (
    ("admin@example.com", "admin", "관리자"),
    ("support@example.com", "support", "상담원"),
    ("viewer@example.com", "viewer", "조회 전용"),
)
PLANS = (
    # code, name, amount, interval unit, interval count, credits
    ("basic", "베이직 월간", 9900, "month", 1, 100),
    ("premium", "프리미엄 월간", 19900, "month", 1, 300),
    ("weekly", "주간 이용권", 2900, "day", 7, None),
)
FAMILY_NAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN_NAMES = (
    "민준", "서연", "도윤", "지우", "하준", "서윤", "은우", "하은", "시우", "지유", "예준", "수아",
    "주원", "지아", "유준", "서아", "지호", "하린", "준서", "다은", "건우", "채원", "현우", "윤서",
)
CARD_PREFIXES = ("557042", "451842", "536181", "515594", "540447", "532092", "538920",
                 "940915", "546112", "457973", "524353")
REFUND_REASONS = ("중복 결제 확인", "서비스 장애 보상", "고객 요청 부분 환불", "이용 기간 조정")
CANCEL_REASONS = ("고객 요청 해지", "이용 빈도 낮음", "타 서비스로 이동")


@dataclass
class DemoSetup:
    """Where the demo keeps its files and which addresses it serves on."""

    folder: Path
    host: str
    port: int
    sandbox_port: int
    customers: int = 200
    days: int = 365

    @property
    def database(self) -> Path:
        return self.folder / "dashboard.sqlite"

    @property
    def sandbox_state(self) -> Path:
        return self.folder / "sandbox-state.json"

    @property
    def dashboard_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.host}:{self.sandbox_port}"


def build(setup: DemoSetup, *, reset: bool = False, echo=print) -> tuple[Flask, Flask]:
    """Create (or reopen) the demo's sandbox and dashboard; seed a year of data when new."""
    if reset and setup.folder.exists():
        shutil.rmtree(setup.folder)
    setup.folder.mkdir(parents=True, exist_ok=True)
    webhook_session = requests.Session()
    sandbox_app = create_sandbox_app(
        state_path=setup.sandbox_state,
        webhook_url=f"{setup.dashboard_url}/webhooks/iamport",
        webhook_session=webhook_session,
    )
    sandbox = sandbox_app.extensions["iamport_sandbox"]
    api_session = requests.Session()
    client = IamportClient(setup.sandbox_url, DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET,
                           session=api_session)
    app = create_app({
        "DEMO": True,
        "SECRET_KEY": demo_secret(setup.folder),
        "DATABASE_URL": f"sqlite:///{setup.database}",
        "IAMPORT_API_URL": setup.sandbox_url,
        "IAMPORT_IMP_KEY": DEFAULT_IMP_KEY,
        "IAMPORT_IMP_SECRET": DEFAULT_IMP_SECRET,
        "IAMPORT_CLIENT": client,
        "CLOCK": lambda: datetime.fromtimestamp(sandbox.now(), UTC),
        # The queue thread starts when the demo serves (``run``), not while it seeds.
        "WEBHOOK_THREAD": False,
    })
    with app.app_context():
        ensure_schema()
        seeded = db.session.scalar(db.select(AdminUser.id)) is not None
    if not seeded:
        # Seed in process (no sockets), then talk over real HTTP like a deployment would.
        api_session.mount(setup.sandbox_url, WSGIAdapter(sandbox_app))
        webhook_session.mount(setup.dashboard_url, ProcessingAdapter(app))
        with app.app_context(), sandbox.saving_deferred():
            seed(sandbox, echo=echo, customers=setup.customers, days=setup.days)
        api_session.adapters.pop(setup.sandbox_url)
        webhook_session.adapters.pop(setup.dashboard_url)
    return app, sandbox_app


class ProcessingAdapter(WSGIAdapter):
    """Deliver a webhook in process, then process it before the seeding's clock moves on."""

    def send(self, request, *args, **kwargs):
        response = super().send(request, *args, **kwargs)
        while webhooks.process_waiting_events():
            pass
        return response


def demo_secret(folder: Path) -> str:
    """Return the demo's session key, made once and kept beside its database."""
    path = folder / "secret-key"
    if not path.exists():
        write_private_file(path, secrets.token_hex(32))
    return path.read_text().strip()


def seed(sandbox, *, echo=print, customers: int = 200, days: int = 365, seed_value: int = 2026):
    """Play a year of billing through the sandbox; leave upcoming schedules in place."""
    rng = random.Random(seed_value)
    for email, role, name in DEMO_USERS:
        staff.create_admin(email, DEMO_PASSWORD, role=role, name=name)
    for code, name, amount, unit, count, credits in PLANS:
        plans.add_plan(code, name=name, amount=amount, interval_unit=unit, interval_count=count,
                       credits_per_period=credits)
    agent = audit.Actor("support@example.com",
                        user_id=db.session.scalar(db.select(AdminUser.id).where(
                            AdminUser.email == "support@example.com")))

    real_now = sandbox.now()
    start = real_now - days * DAY
    sandbox.set_now(start)
    people = [make_person(n, rng) for n in range(customers)]
    starts: dict[int, list[dict]] = {}
    for person in people:
        starts.setdefault(rng.randrange(days - 20), []).append(person)
    echo(f"Seeding {customers} customers and {days} days of billing through the sandbox…")
    for day in range(days):
        sandbox.set_now(start + day * DAY + 9 * 3600)
        for person in starts.get(day, []):
            start_customer(sandbox, person, rng)
        declined = decline_some_first_attempts(sandbox, rng)
        sandbox.run_due()
        for customer_uid in declined:
            sandbox.set_behavior(customer_uid, "approve")  # the retry tomorrow succeeds
        act_like_staff(rng, agent)
        if day % 60 == 59:
            echo(f"  {day + 1} days")
    sandbox.set_now(real_now)
    sandbox.run_due()
    # A few new subscribers whose first charge runs in the next minutes, to watch live.
    for n, person in enumerate(make_person(customers + k, rng) for k in range(5)):
        start_customer(sandbox, person, rng, start_at=datetime.fromtimestamp(
            real_now + (n + 2) * 60, UTC))
    echo("Seeded.")


def make_person(n: int, rng: random.Random) -> dict:
    name = rng.choice(FAMILY_NAMES) + rng.choice(GIVEN_NAMES)
    declining = rng.random() < 0.05
    digits = rng.choice(CARD_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(6))
    digits += "0002" if declining else f"{rng.randrange(1000, 9999)}"
    digits = _passing_luhn(digits)
    return {
        "uid": f"cust_{n + 1:04d}",
        "name": name,
        "phone": f"010-{rng.randrange(2000, 9999)}-{rng.randrange(1000, 9999)}",
        "email": f"member{n + 1:04d}@example.kr",
        "card": "-".join(digits[i:i + 4] for i in range(0, 16, 4)),
        "plan": rng.choices(("basic", "premium", "weekly"), weights=(6, 3, 1))[0],
    }


def _passing_luhn(digits: str) -> str:
    """Change the twelfth digit so the number passes the Luhn check, as iamport demands."""
    for candidate in "0123456789":
        number = digits[:11] + candidate + digits[12:]
        total = sum(int(d) if i % 2 == 0 else sum(divmod(int(d) * 2, 10))
                    for i, d in enumerate(reversed(number)))
        if total % 10 == 0:
            return number
    raise AssertionError("unreachable: some digit always fits")


def start_customer(sandbox, person: dict, rng: random.Random, start_at=None) -> None:
    provider().issue_billing_key(
        person["uid"], card_number=person["card"], expiry="2029-12", birth="900101",
        pwd_2digit="00", pg="kcp", customer_name=person["name"], customer_tel=person["phone"],
        customer_email=person["email"],
    )
    when = start_at or now() + timedelta(minutes=rng.randrange(5, 600))
    try:
        intake.start_subscription(
            person["uid"], plan_code=person["plan"], start_at=when,
            customer_info={"name": person["name"], "phone": person["phone"],
                           "email": person["email"]},
        )
    except errors.BillingError:
        db.session.rollback()


def decline_some_first_attempts(sandbox, rng: random.Random) -> list[str]:
    """Make about one first attempt in twelve decline today; return the keys changed."""
    today_end = now() + timedelta(days=1)
    due = db.session.scalars(
        db.select(Schedule).where(Schedule.schedule_status == "scheduled",
                                  Schedule.schedule_at < today_end, Schedule.attempt == 1)
    ).all()
    declined = []
    for schedule in due:
        if rng.random() < 1 / 12:
            reason = rng.choice(("[CC10] 통장 잔액부족", "[CC07] 1회 한도초과",
                                 "[CC08] 1일 한도초과"))
            sandbox.set_behavior(schedule.customer.customer_uid, "decline", reason)
            declined.append(schedule.customer.customer_uid)
    return declined


def act_like_staff(rng: random.Random, agent: audit.Actor) -> None:
    """Now and then refund part of a recent payment, or cancel or pause a subscription."""
    roll = rng.random()
    if roll < 0.12:
        payment = recent(Payment, Payment.status == "paid", rng)
        if payment is not None:
            partial = rng.random() < 0.7
            amount = min(rng.choice((1000, 2000, 3000, 5000)), payment.amount) if partial else None
            try:
                refunds.refund_payment(payment.id, amount=amount,
                                       reason=rng.choice(REFUND_REASONS), actor=agent)
            except errors.BillingError:
                db.session.rollback()
    elif roll < 0.16:
        subscription = recent(Subscription, Subscription.status == "active", rng)
        if subscription is not None:
            lifecycle.cancel_subscription(subscription.id, actor=agent,
                                          reason=rng.choice(CANCEL_REASONS),
                                          at_period_end=rng.random() < 0.5)
    elif roll < 0.18:
        subscription = recent(Subscription, Subscription.status == "active", rng)
        if subscription is not None:
            lifecycle.pause_subscription(subscription.id, actor=agent, reason="고객 요청 일시정지")


def recent(model, condition, rng: random.Random):
    rows = db.session.scalars(
        db.select(model).where(condition).order_by(model.id.desc()).limit(20)
    ).all()
    return rng.choice(rows) if rows else None


def run(setup: DemoSetup, *, reset: bool = False, echo=print) -> None:
    """Build the demo, then serve the sandbox (with its schedule runner) and the dashboard."""
    from werkzeug.serving import run_simple

    from .iamport.sandbox.server import start_in_thread

    app, sandbox_app = build(setup, reset=reset, echo=echo)
    sandbox = sandbox_app.extensions["iamport_sandbox"]
    sandbox.configure_webhook(f"{setup.dashboard_url}/webhooks/iamport")
    _, stop_sandbox = start_in_thread(sandbox_app, setup.host, setup.sandbox_port)
    sandbox.start_runner(interval=1.0)
    app.extensions["webhook_queue"].start()  # processes webhooks as they arrive
    echo("")
    echo(f"  Dashboard:  {setup.dashboard_url}")
    echo(f"  Sign in:    admin@example.com / {DEMO_PASSWORD}  (also support@, viewer@)")
    echo(f"  Sandbox:    {setup.sandbox_url}  (iamport V1 API emulator; control at /_sandbox)")
    echo(f"  Data:       {setup.folder}  (restart keeps it; --reset starts over)")
    echo("")
    try:
        run_simple(setup.host, setup.port, app, threaded=True, use_reloader=False)
    finally:
        app.extensions["webhook_queue"].stop()
        sandbox.stop_runner()
        stop_sandbox()


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True, help="Dashboard port.")
@click.option("--sandbox-port", type=int, default=5099, show_default=True)
@click.option("--reset", is_flag=True, help="Forget the demo's data and seed it again.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="[default: instance/demo]")
@click.option("--customers", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--days", type=click.IntRange(min=30), default=365, show_default=True,
              help="Days of history to seed.")
def demo_command(host, port, sandbox_port, reset, data_dir, customers, days):
    """Run the dashboard with the sandbox and a year of demo data, offline."""
    folder = Path(data_dir) if data_dir else INSTANCE_PATH / "demo"
    setup = DemoSetup(folder, host, port, sandbox_port, customers=customers, days=days)
    run(setup, reset=reset, echo=click.echo)
