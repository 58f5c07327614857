"""Translations for English sentences the write side stores or raises.

Billing services and the webhook receiver speak English (logs, API answers, stored
``webhook_event.error``); staff reading the console in Korean see these sentences translated.
The write side stays free of Flask-Babel: the translation happens here, when a page shows them.
"""
from __future__ import annotations

import re

from flask_babel import gettext

from .actions import REFUSALS
from .formatting import lazy_gettext as _l

# Each sentence a billing error may carry, marked so that extraction finds it.
BILLING_DETAILS = [
    _l("This period is already paid."),
    _l("Another charge for this period is already scheduled."),
    _l("The current period is paid; the next charge is not due yet."),
    _l("The customer has no billing key; register a card first."),
    _l("Only a paid payment can be refunded."),
    _l("This payment is already fully refunded."),
    _l("An earlier refund of this payment has an unknown outcome; run sync first."),
    _l("This event has no payment to verify; its body was unreadable."),
    _l("Only an active or past-due subscription can be paused."),
    _l("Only a paused subscription can be resumed."),
    _l("This subscription is already cancelled."),
    _l("Only a cancelled subscription can be reinstated."),
    _l("A cancelled subscription cannot change plans."),
    _l("Only an unpaid period of an active or past-due subscription can be charged."),
    _l("Only a schedule that has not run yet can be moved."),
    _l("This schedule is not waiting to run."),
    _l("Only a failed or revoked schedule of an unpaid period can be rescheduled."),
    _l("Only a failed or revoked schedule of an unpaid period can be retried."),
    _l("Only a paid payment with a refundable balance can be refunded."),
    _l("This event has no payment to verify, or it was processed already."),
    _l("The new time must be at least a minute in the future."),
    _l("The resume date must be in the future."),
    _l("The subscription is already on this plan."),
    _l("This customer already has a live subscription to this plan."),
    _l("This customer has no billing key to delete."),
    _l("The form is out of date; open it again."),
    _l("iamport could not be reached; try again."),
    _l("No such customer."),
    _l("No such subscription."),
    _l("Write the note first."),
]

# What a webhook's processing stored as its error, word for word or by its start.
WEBHOOK_ERRORS = {
    "ok": _l("Done"),
    "body too large": _l("The body was too large."),
    "wrong or missing token": _l("The token was wrong or missing."),
    "body is not JSON or form data": _l("The body is neither JSON nor form data."),
    "imp_uid is missing": _l("The imp_uid is missing."),
    "unknown status": _l("The status is not one iamport sends."),
    "iamport has no such payment": _l("iamport has no such payment."),
    "merchant_uid does not match the payment": _l("The merchant_uid does not match the payment."),
}
WEBHOOK_ERROR_PATTERNS = [
    (re.compile(r"iamport unavailable: (?P<detail>.*)", re.DOTALL),
     _l("iamport could not be reached: %(detail)s")),
    (re.compile(r"could not apply: (?P<detail>.*)", re.DOTALL),
     _l("The result could not be applied: %(detail)s")),
    (re.compile(r"sender address (?P<detail>.*) is not allowed", re.DOTALL),
     _l("The sender address %(detail)s is not allowed.")),
    (re.compile(r"(?P<detail>\w+) is invalid"), _l("%(detail)s is invalid.")),
]


def billing_detail(message: str | None) -> str:
    """Return a billing error's sentence in the page's language (unknown ones as they are)."""
    if not message:
        return ""
    return gettext(message)


def webhook_error(message: str | None) -> str:
    """Return a webhook's stored processing error in the page's language."""
    if not message:
        return ""
    if message in WEBHOOK_ERRORS:
        return str(WEBHOOK_ERRORS[message])
    for pattern, sentence in WEBHOOK_ERROR_PATTERNS:
        match = pattern.fullmatch(message)
        if match:
            return gettext(sentence._args[0], detail=match["detail"])
    return message


def untranslatable_refusals() -> list[str]:
    """Return the refusal sentences (actions.REFUSALS) this module does not list."""
    listed = {str(message._args[0]) for message in BILLING_DETAILS}
    return [sentence for sentence in REFUSALS.values() if sentence not in listed]
