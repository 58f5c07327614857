"""Customers and their billing keys: sync from iamport, key-in registration, deletion, credits.

Card data passes straight to iamport and is never stored, logged, audited or returned
(money rule 6); only what iamport answers about the card (name, masked number) is kept.
"""
from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError

from ..config import iamport_pg
from ..extensions import db
from ..iamport import BillingKey, IamportError, NotFound, Rejected
from ..models import MAX_CREDIT_ADJUSTMENT, CreditEntry, Customer
from ..phones import phone_digits
from ..text import fit_column
from . import (
    audit,
    checkpoint,
    errors,
    now,
    owns_transaction,
    provider,
    schedules,
    translate_iamport_error,
)


def get_customer(customer_id: int, *, lock: bool = False) -> Customer:
    query = db.select(Customer).where(Customer.id == customer_id)
    customer = db.session.scalar(query.with_for_update() if lock else query)
    if customer is None:
        raise errors.RecordNotFound("No such customer.")
    return customer


def get_or_create_customer(customer_uid: str) -> Customer:
    """Return the customer for a billing key, creating it if new.

    A checkpoint: the new row is committed at once so that two workers meeting the same new
    ``customer_uid`` agree on one customer.
    """
    customer = db.session.scalar(db.select(Customer).where(Customer.customer_uid == customer_uid))
    if customer is not None:
        return customer
    customer = Customer(customer_uid=customer_uid, billing_key_status="active")
    db.session.add(customer)
    try:
        checkpoint()
    except IntegrityError:
        # Another worker created it a moment ago.
        db.session.rollback()
        customer = db.session.scalar(
            db.select(Customer).where(Customer.customer_uid == customer_uid)
        )
    return customer


def copy_billing_key(customer: Customer, key: BillingKey) -> None:
    """Copy what iamport says about a billing key onto the customer."""
    customer.card_name = fit_column(Customer.card_name, key.card_name)
    customer.card_code = fit_column(Customer.card_code, key.card_code)
    customer.card_number = fit_column(Customer.card_number, key.card_number)
    customer.card_type = key.card_type
    customer.pg_provider = fit_column(Customer.pg_provider, key.pg_provider)
    customer.billing_key_status = "active"
    customer.billing_key_synced_at = now()
    customer.name = customer.name or (key.customer_name or "")[:100]
    customer.email = customer.email or (key.customer_email or "")[:200]
    customer.phone = customer.phone or phone_digits(key.customer_tel)


def refresh_billing_key(customer: Customer) -> str:
    """Fetch the customer's billing key from iamport and copy it; return the key's state."""
    try:
        key = provider().get_billing_key(customer.customer_uid)
    except NotFound:
        customer.billing_key_status = "missing"
        customer.billing_key_synced_at = now()
        return "missing"
    copy_billing_key(customer, key)
    return "active"


@owns_transaction
def register_billing_key(
    customer_id: int,
    *,
    card_number: str,
    expiry: str,
    birth: str,
    pwd_2digit: str,
    actor: audit.Actor,
) -> Customer:
    """Issue (or replace) the customer's billing key by card key-in at iamport."""
    digits = re.sub(r"\D", "", card_number or "")
    if not 14 <= len(digits) <= 16:
        raise errors.InvalidInput("Enter the 14 to 16 digit card number.")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", expiry or ""):
        raise errors.InvalidInput("Enter the expiry as YYYY-MM.")
    if not re.fullmatch(r"\d{6}|\d{10}", birth or ""):
        raise errors.InvalidInput("Enter the birth date (YYMMDD) or the 10-digit business number.")
    if not re.fullmatch(r"\d{2}", pwd_2digit or ""):
        raise errors.InvalidInput("Enter the first two digits of the card password.")
    customer = get_customer(customer_id, lock=True)
    formatted = "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    had_key = customer.billing_key_status == "active"
    try:
        key = provider().issue_billing_key(
            customer.customer_uid,
            card_number=formatted,
            expiry=expiry,
            birth=birth,
            pwd_2digit=pwd_2digit,
            pg=iamport_pg(),
            customer_name=customer.name or None,
            customer_tel=customer.phone or None,
            customer_email=customer.email or None,
        )
    except IamportError as error:
        db.session.rollback()
        if isinstance(error, Rejected):
            record_failure("customer.billing_key.register", customer, actor, error.message)
        raise translate_iamport_error(
            error, unknown="iamport did not answer; sync the customer to see whether the card "
            "was registered."
        ) from error
    copy_billing_key(customer, key)
    audit.record(
        "customer.billing_key.replace" if had_key else "customer.billing_key.register",
        "customer",
        customer.customer_uid,
        actor=actor,
        customer_id=customer.id,
        details={"card_name": key.card_name, "card_number": None, "masked": key.card_number},
    )
    db.session.commit()
    return customer


def record_failure(
    action: str, customer: Customer, actor: audit.Actor, message: str | None
) -> None:
    """Record a refused key-in on the audit trail; a checkpoint, kept though the action fails."""
    audit.record(
        action,
        "customer",
        customer.customer_uid,
        actor=actor,
        customer_id=customer.id,
        details={"error": message},
        outcome="rejected",
    )
    checkpoint()


@owns_transaction
def delete_billing_key(customer_id: int, *, actor: audit.Actor, reason: str) -> Customer:
    """Delete the billing key at iamport after revoking its waiting schedules."""
    if not reason or not reason.strip():
        raise errors.InvalidInput("Give a reason for deleting the billing key.")
    customer = get_customer(customer_id, lock=True)
    if customer.billing_key_status != "active":
        raise errors.InvalidState("This customer has no billing key to delete.")
    revoked = []
    try:
        for subscription in customer.subscriptions:
            revoked += schedules.revoke_live_schedules(subscription)
            subscription.next_attempt_at = None
        provider().delete_billing_key(customer.customer_uid, reason=reason[:256])
    except errors.BillingError:
        db.session.rollback()
        raise
    except NotFound:
        pass  # already gone at iamport: the end state is what was asked for
    except IamportError as error:
        if isinstance(error, Rejected):
            db.session.rollback()
        else:
            checkpoint()  # the revocations that did happen are real
        raise translate_iamport_error(
            error, unknown="iamport did not answer; sync the customer to see whether the key "
            "was deleted."
        ) from error
    customer.billing_key_status = "deleted"
    customer.billing_key_synced_at = now()
    audit.record(
        "customer.billing_key.delete",
        "customer",
        customer.customer_uid,
        actor=actor,
        customer_id=customer.id,
        reason=reason,
        details={"revoked": revoked},
    )
    db.session.commit()
    return customer


@owns_transaction
def adjust_credits(customer_id: int, *, delta: int, reason: str, actor: audit.Actor) -> CreditEntry:
    """Add or remove credits by hand, with a reason, as a new ledger entry."""
    if delta == 0 or abs(delta) > MAX_CREDIT_ADJUSTMENT:
        raise errors.InvalidInput(
            f"The adjustment must be non-zero and at most {MAX_CREDIT_ADJUSTMENT:,} either way."
        )
    if not reason or not reason.strip():
        raise errors.InvalidInput("Give a reason for the adjustment.")
    customer = get_customer(customer_id)
    entry = CreditEntry(
        customer_id=customer.id, delta=delta, reason="manual", actor_id=actor.user_id,
        note=reason.strip()[:256],
    )
    db.session.add(entry)
    audit.record(
        "customer.credits.adjust",
        "customer",
        customer.customer_uid,
        actor=actor,
        customer_id=customer.id,
        reason=reason,
        details={"delta": delta},
    )
    db.session.commit()
    return entry
