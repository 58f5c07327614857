"""Fixtures for the console: staff of every role, signed-in clients, and seeded rows.

Read-side tests seed rows straight through the models; action tests use the sandbox in
process (the ``sandbox`` fixture, ``tests.harness``) so billing calls reach a real emulator.
"""
from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.security import generate_password_hash

from dashboard.extensions import db
from dashboard.models import (
    AdminUser,
    Customer,
    Payment,
    Plan,
    Refund,
    Schedule,
    Subscription,
    WebhookEvent,
)

PASSWORD = "correct horse battery"
ROLES = ("viewer", "support", "admin")
HTMX = {"HX-Request": "true"}

_numbers = itertools.count(1)
# A cheap hash keeps sign-in fast in tests; production hashes use werkzeug's default.
PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


def make_user(role: str, email: str | None = None) -> AdminUser:
    user = AdminUser(email=email or f"{role}@example.com", name=role.title(), role=role)
    user.password_hash = PASSWORD_HASH
    db.session.add(user)
    db.session.commit()
    return user


def sign_in(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


@pytest.fixture
def staff(app):
    """One account per role."""
    with app.app_context():
        return {role: make_user(role).email for role in ROLES}


@pytest.fixture
def staff_factory():
    """Create a staff account of a role (inside an app context)."""
    return make_user


@pytest.fixture
def as_role(app, staff):
    """Return a test client signed in with the given role."""

    def client_for(role: str):
        client = app.test_client()
        response = sign_in(client, staff[role])
        assert response.status_code in (302, 303), response.get_data(as_text=True)
        return client

    return client_for


@pytest.fixture
def admin_client(as_role):
    return as_role("admin")


@pytest.fixture
def viewer_client(as_role):
    return as_role("viewer")


# --- seeding rows directly -----------------------------------------------------------


def at(days: float = 0, *, base: datetime | None = None) -> datetime:
    """A time ``days`` from now (negative: in the past), aware UTC."""
    return (base or datetime.now(UTC)) + timedelta(days=days)


def add(row):
    db.session.add(row)
    db.session.commit()
    return row


def make_plan(code="basic", name="베이직 월간", amount=9900, **extra) -> Plan:
    return add(Plan(code=code, name=name, amount=amount, **extra))


def make_customer(name="김민수", email=None, phone="01012345678", created_at=None,
                  **extra) -> Customer:
    n = next(_numbers)
    return add(Customer(
        customer_uid=extra.pop("customer_uid", f"cust_{n:05d}"),
        name=name, email=email if email is not None else f"user{n}@example.com", phone=phone,
        card_name=extra.pop("card_name", "신한카드"),
        card_number=extra.pop("card_number", "5570-42**-****-7221"),
        created_at=created_at or datetime.now(UTC), **extra,
    ))


def make_subscription(customer, plan, status="active", **extra) -> Subscription:
    now = datetime.now(UTC)
    return add(Subscription(
        customer_id=customer.id, plan_id=plan.id, status=status,
        current_period=extra.pop("current_period", 1),
        current_period_start=extra.pop("current_period_start", now - timedelta(days=10)),
        current_period_end=extra.pop("current_period_end", now + timedelta(days=20)),
        next_charge_at=extra.pop("next_charge_at", now + timedelta(days=20)), **extra,
    ))


def make_payment(customer, amount=9900, status="paid", created_at=None, **extra) -> Payment:
    n = next(_numbers)
    created_at = created_at or datetime.now(UTC)
    return add(Payment(
        merchant_uid=extra.pop("merchant_uid", f"order_{n:06d}"),
        imp_uid=extra.pop("imp_uid", f"imp_{n:012d}" if status != "pending" else None),
        customer_id=customer.id if customer else None, amount=amount, status=status,
        created_at=created_at,
        paid_at=extra.pop("paid_at", created_at if status in ("paid", "cancelled") else None),
        failed_at=extra.pop("failed_at", created_at if status == "failed" else None),
        name=extra.pop("name", "베이직 월간"), **extra,
    ))


def make_schedule(customer, amount=9900, schedule_at=None, schedule_status="scheduled",
                  **extra) -> Schedule:
    n = next(_numbers)
    return add(Schedule(
        merchant_uid=extra.pop("merchant_uid", f"sched_{n:06d}"), customer_id=customer.id,
        amount=amount, schedule_at=schedule_at or at(3), schedule_status=schedule_status,
        **extra,
    ))


def make_refund(payment, amount, status="succeeded", reason="중복 결제",
                cancelled_at=None) -> Refund:
    payment.cancel_amount += amount if status == "succeeded" else 0
    return add(Refund(payment_id=payment.id, amount=amount, status=status, reason=reason,
                      cancelled_at=cancelled_at or datetime.now(UTC)))


def make_event(state="processed", imp_uid=None, merchant_uid=None, **extra) -> WebhookEvent:
    return add(WebhookEvent(state=state, imp_uid=imp_uid, merchant_uid=merchant_uid,
                            status=extra.pop("status", "paid"), raw_body=b"{}", **extra))
