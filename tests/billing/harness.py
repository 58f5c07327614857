"""Helpers for billing tests that drive the sandbox and read the dashboard's tables."""
from __future__ import annotations

import json

from flask import Flask

from dashboard.extensions import db
from dashboard.models import CreditEntry, Payment, Schedule, Subscription, WebhookEvent
from tests.webhook_queue import drain

DAY = 86400


def fresh(model, ident):
    """Return a row as the database has it now, not as this session remembers it."""
    db.session.expire_all()
    return db.session.get(model, ident)


def payments_of(subscription_id: int) -> list[Payment]:
    db.session.expire_all()
    return db.session.scalars(
        db.select(Payment).where(Payment.subscription_id == subscription_id).order_by(Payment.id)
    ).all()


def live_schedules_of(subscription_id: int) -> list[Schedule]:
    return db.session.scalars(
        db.select(Schedule).where(
            Schedule.subscription_id == subscription_id, Schedule.schedule_status == "scheduled"
        )
    ).all()


def credits_of(customer_id: int) -> list[tuple[str, int]]:
    return [
        (entry.reason, entry.delta)
        for entry in db.session.scalars(
            db.select(CreditEntry).where(CreditEntry.customer_id == customer_id)
            .order_by(CreditEntry.id)
        )
    ]


def state_of(subscription_id: int) -> tuple:
    """A summary of everything a duplicate or reordered event must not change."""
    sub = fresh(Subscription, subscription_id)
    return (
        sub.status,
        sub.current_period,
        sub.current_period_end,
        sub.failed_attempts,
        [(p.merchant_uid, p.status, p.amount, p.cancel_amount) for p in payments_of(sub.id)],
        sorted(s.merchant_uid for s in live_schedules_of(sub.id)),
        credits_of(sub.customer_id),
    )


def post_webhook(app: Flask, payload: dict, *, form: bool = False):
    """Post one webhook body to the dashboard as iamport would, then run the queue."""
    client = app.test_client()
    if form:
        response = client.post("/webhooks/iamport", data=payload)
    else:
        response = client.post(
            "/webhooks/iamport", data=json.dumps(payload), content_type="application/json"
        )
    drain(app)
    return response


def event_states() -> list[str]:
    db.session.expire_all()
    return db.session.scalars(db.select(WebhookEvent.state).order_by(WebhookEvent.id)).all()
