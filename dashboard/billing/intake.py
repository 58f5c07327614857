"""How subscriptions start: from the CLI or the merchant's own application."""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from ..extensions import db
from ..iamport import IamportError, NotFound
from ..models import Plan, Subscription
from ..phones import phone_digits
from . import audit, billing_mode, errors, now, owns_transaction, provider, schedules
from .charges import new_period_charge, send_again
from .customers import copy_billing_key, get_or_create_customer
from .periods import local_anchor


@owns_transaction
def start_subscription(
    customer_uid: str,
    *,
    plan_code: str,
    start_at: datetime | None = None,
    charge_now: bool = False,
    customer_info: dict | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> Subscription:
    """Create a subscription on an existing billing key and plan (or make) its first charge."""
    plan = db.session.scalar(db.select(Plan).where(Plan.code == plan_code))
    if plan is None or not plan.active:
        raise errors.RecordNotFound(f"No active plan with the code {plan_code!r}.")
    if start_at is not None and start_at.tzinfo is None:
        raise errors.InvalidInput("The start time must include a time zone.")
    try:
        key = provider().get_billing_key(customer_uid)
    except NotFound as missing:
        raise errors.RecordNotFound(
            f"iamport has no billing key with the customer_uid {customer_uid!r}."
        ) from missing
    except IamportError as error:
        raise errors.IamportUnreachable(
            "iamport could not be reached; nothing was created."
        ) from error
    customer = get_or_create_customer(customer_uid)
    info = customer_info or {}
    customer.name = (info.get("name") or customer.name or key.customer_name or "")[:100]
    customer.email = (info.get("email") or customer.email or key.customer_email or "")[:200]
    customer.phone = (
        phone_digits(info.get("phone")) or customer.phone or phone_digits(key.customer_tel)
    )
    copy_billing_key(customer, key)
    if db.session.scalar(
        db.select(Subscription.id).where(
            Subscription.customer_id == customer.id,
            Subscription.plan_id == plan.id,
            Subscription.status != "cancelled",
        )
    ):
        db.session.rollback()
        raise errors.InvalidState("This customer already has a live subscription to this plan.")
    first_charge_at = max(start_at or now(), now())
    subscription = Subscription(
        customer=customer, plan=plan, status="active", next_charge_at=first_charge_at
    )
    db.session.add(subscription)
    db.session.flush()
    audit.record(
        "subscription.create",
        "subscription",
        subscription.id,
        actor=actor,
        customer_id=customer.id,
        details={"plan": plan.code, "start_at": first_charge_at.isoformat(),
                 "charge_now": charge_now},
    )
    if charge_now:
        subscription.billing_anchor = local_anchor(first_charge_at)
        payment = new_period_charge(subscription, origin="again")
        db.session.commit()
        # the subscription exists; the charge's state is on its payment row
        with contextlib.suppress(errors.BillingError):
            send_again(payment)
        return db.session.get(Subscription, subscription.id)
    if billing_mode() == "schedule" and first_charge_at <= now():
        # iamport only runs schedules in the future.
        first_charge_at = now() + timedelta(minutes=1)
        subscription.next_charge_at = first_charge_at
    subscription.billing_anchor = local_anchor(first_charge_at)
    schedules.plan_charge(subscription, first_charge_at)
    db.session.commit()
    schedules.register_unconfirmed(subscription.id)
    return subscription
