"""Full and partial refunds (iamport's ``POST /payments/cancel``).

A refund locks the payment row, checks the refundable balance, records a ``pending`` refund
and commits before calling iamport with ``checksum`` set to the balance we believe in, so
iamport refuses it if anything changed meanwhile (money rule 3). A lost answer leaves the
refund pending until ``sync`` reads the payment's cancel history (money rule 2).
"""
from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from ..actions import allowed_actions, has_pending_refund, refusal
from ..extensions import db
from ..iamport import IamportError, OutcomeUnknown, Rejected
from ..models import AuditEntry, Payment, Refund
from . import (
    audit,
    checkpoint,
    errors,
    load_for_update,
    owns_transaction,
    provider,
    translate_iamport_error,
)
from .results import apply_payment_result


def new_refund_key() -> str:
    """Return a key for a refund form; a resubmission of the form carries it again."""
    return f"refund-{secrets.token_hex(12)}"


@owns_transaction
def refund_payment(
    payment_id: int,
    *,
    amount: int | None,
    reason: str,
    actor: audit.Actor,
    request_key: str | None = None,
) -> Refund:
    """Refund ``amount`` won of a payment (None: all that is left) and return the refund.

    With a ``request_key`` (from the staff form) a second submission returns the first
    refund instead of refunding again.
    """
    if request_key is not None and len(request_key) > 40:
        raise errors.InvalidInput("The form is out of date; open it again.")
    if not reason or not reason.strip():
        raise errors.InvalidInput("Give a reason for the refund.")
    if len(reason) > 256:
        raise errors.InvalidInput("The reason must be at most 256 characters.")
    payment = load_for_update(Payment, payment_id, missing="No such payment.")
    if request_key is not None:
        earlier = db.session.scalar(db.select(Refund).where(Refund.request_key == request_key))
        if earlier is not None:
            db.session.rollback()
            if earlier.payment_id != payment_id:
                raise errors.InvalidInput("The form is out of date; open it again.")
            return earlier
    try:
        refund, entry = start_refund(payment, amount, reason.strip(), actor, request_key)
    except IntegrityError:
        # The same form was submitted twice at once; the other request refunds.
        db.session.rollback()
        return db.session.scalar(db.select(Refund).where(Refund.request_key == request_key))
    try:
        result = provider().cancel_payment(
            imp_uid=payment.imp_uid,
            amount=refund.amount,
            checksum=refund.checksum,
            reason=refund.reason,
        )
    except IamportError as error:
        # What iamport said (or that it said nothing) is kept on the refund and its audit
        # entry, although the action fails: a checkpoint.
        if isinstance(error, OutcomeUnknown):
            entry.outcome = "unknown"
        else:
            refund.status = "rejected"
            refund.error = (
                (error.message or "rejected")[:256] if isinstance(error, Rejected)
                else "iamport could not be reached; nothing was refunded"
            )
            entry.outcome = "rejected" if isinstance(error, Rejected) else "unavailable"
        checkpoint()
        raise translate_iamport_error(
            error,
            unknown="iamport did not answer; the refund stays pending until sync confirms it.",
            unavailable="iamport could not be reached; nothing was refunded.",
        ) from error
    entry.outcome = "ok"
    apply_payment_result(result, source="refund")
    db.session.refresh(refund)
    return refund


def start_refund(
    payment: Payment, amount: int | None, reason: str, actor: audit.Actor,
    request_key: str | None = None,
) -> tuple[Refund, AuditEntry]:
    """Check the balance and record a pending refund under the payment's row lock; a
    checkpoint commit, before iamport is asked."""
    if "refund" not in allowed_actions(payment):
        if has_pending_refund(payment):
            raise errors.InvalidState(refusal(payment, "refund"))
        raise errors.NotRefundable(refusal(payment, "refund"), refundable=0)
    refundable = payment.refundable_amount
    amount = refundable if amount is None else amount
    if amount <= 0:
        raise errors.InvalidInput("The refund amount must be a positive number of won.")
    if amount > refundable:
        raise errors.NotRefundable(
            f"At most ₩{refundable:,} can be refunded.", refundable=refundable
        )
    refund = Refund(
        payment_id=payment.id,
        amount=amount,
        reason=reason,
        status="pending",
        checksum=refundable,
        requested_by_id=actor.user_id,
        request_key=request_key,
    )
    db.session.add(refund)
    entry = audit.record(
        "payment.refund",
        "payment",
        payment.merchant_uid,
        actor=actor,
        customer_id=payment.customer_id,
        reason=reason,
        details={"amount": amount, "refundable_before": refundable,
                 "kind": "full" if amount == refundable else "partial"},
        outcome="requested",
    )
    checkpoint()
    return refund, entry
