"""Full and partial refunds (iamport's ``POST /payments/cancel``).

A refund locks the payment row, checks the refundable balance, records a ``pending`` refund
and commits before calling iamport with ``checksum`` set to the balance we believe in, so
iamport refuses it if anything changed meanwhile (money rule 3). A lost answer leaves the
refund pending until ``sync`` reads the payment's cancel history (money rule 2).
"""
from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..iamport import IamportError, OutcomeUnknown, Rejected
from ..models import AuditEntry, Payment, Refund
from . import audit, errors, owns_transaction, provider
from .lifecycle import apply_payment_result


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
    payment = db.session.scalar(
        db.select(Payment).where(Payment.id == payment_id).with_for_update()
    )
    if payment is None:
        raise errors.RecordNotFound("No such payment.")
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
    except Rejected as rejection:
        refund.status = "rejected"
        refund.error = (rejection.message or "rejected")[:256]
        entry.outcome = "rejected"
        db.session.commit()
        raise errors.ProviderRejected(rejection.message or "iamport refused the refund") from rejection
    except OutcomeUnknown as error:
        entry.outcome = "unknown"
        db.session.commit()
        raise errors.OutcomeUnknown(
            "iamport did not answer; the refund stays pending until sync confirms it."
        ) from error
    except IamportError as error:
        refund.status = "rejected"
        refund.error = "iamport could not be reached; nothing was refunded"
        entry.outcome = "unavailable"
        db.session.commit()
        raise errors.ProviderUnavailable("iamport could not be reached; nothing was refunded.") from error
    entry.outcome = "ok"
    apply_payment_result(result, source="refund")
    db.session.refresh(refund)
    return refund


def start_refund(
    payment: Payment, amount: int | None, reason: str, actor: audit.Actor,
    request_key: str | None = None,
) -> tuple[Refund, AuditEntry]:
    """Check the balance and record a pending refund under the payment's row lock; commits."""
    if payment.status not in ("paid", "cancelled") or payment.imp_uid is None:
        raise errors.NotRefundable("Only a paid payment can be refunded.")
    if db.session.scalar(
        db.select(Refund.id).where(Refund.payment_id == payment.id, Refund.status == "pending")
    ):
        raise errors.InvalidState(
            "An earlier refund of this payment has an unknown outcome; run sync first."
        )
    refundable = payment.refundable_amount
    amount = refundable if amount is None else amount
    if refundable <= 0:
        raise errors.NotRefundable("This payment is already fully refunded.", refundable=0)
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
    db.session.commit()
    return refund, entry
