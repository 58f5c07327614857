"""The write side: every change to billing state goes through a function in this package.

The transaction rule, for every module here:

- A *public service function* (the ones views, commands and the queue call) owns its
  transaction: it loads what it changes (with a row lock), changes it, records an audit entry
  for staff actions, and commits once. When it refuses, it raises a named error from
  ``errors`` and ``owns_transaction`` rolls back, so no row lock outlives the refusal.
- *Helpers* (everything a service calls) never commit and never roll back.
- The only exceptions are the named **checkpoints** of the money rules, each a call to
  ``checkpoint()``: a pending charge, refund or schedule row is stored before iamport is asked
  (money rules 1 and 2), and a result is stored before the next request that depends on it.

Collaborators come from the app: the iamport client (``provider``) and the clock (``now``),
both replaceable so a sandbox can stand in for iamport and move time.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

from ..actions import allowed_actions, refusal
from ..clock import now
from ..config import billing_mode, merchant_uid_prefix
from ..extensions import db
from ..iamport import IamportClient, IamportError, OutcomeUnknown, Rejected
from . import errors

__all__ = [
    "billing_mode",
    "calling_iamport",
    "checkpoint",
    "load_for_update",
    "merchant_uid_prefix",
    "now",
    "owns_transaction",
    "provider",
    "require_action",
    "translate_iamport_error",
]

UNREACHABLE = "iamport could not be reached; nothing was changed."


def provider() -> IamportClient:
    """Return the app's iamport client."""
    return current_app.extensions["iamport"]


def checkpoint() -> None:
    """Commit a row that must exist before iamport is asked (a money-rule checkpoint)."""
    db.session.commit()


def load_for_update(model, row_id: int, *, missing: str):
    """Return one row locked for this transaction, or raise ``RecordNotFound(missing)``."""
    row = db.session.scalar(db.select(model).where(model.id == row_id).with_for_update())
    if row is None:
        raise errors.RecordNotFound(missing)
    return row


def require_action(record, action: str) -> None:
    """Refuse with ``InvalidState`` unless ``action`` applies to ``record`` in its state."""
    if action not in allowed_actions(record):
        raise errors.InvalidState(refusal(record, action))


def translate_iamport_error(
    error: IamportError, *, unknown: str, unavailable: str = UNREACHABLE
) -> errors.BillingError:
    """Return the billing error staff see for one of the client's errors.

    ``unknown`` says what happens to a request whose answer was lost (money rule 2): it must
    never read "nothing was changed", because iamport may have done it.
    """
    if isinstance(error, Rejected):
        return errors.IamportRefused(error.message or "iamport refused the request.")
    if isinstance(error, OutcomeUnknown):
        return errors.AnswerLost(unknown)
    return errors.IamportUnreachable(unavailable)


@contextmanager
def calling_iamport(*, unknown: str, unavailable: str = UNREACHABLE) -> Iterator[None]:
    """Raise the billing error for any client error inside the block, dropping our
    uncommitted changes (the caller's row locks go with them)."""
    try:
        yield
    except IamportError as error:
        db.session.rollback()
        raise translate_iamport_error(error, unknown=unknown, unavailable=unavailable) from error


def owns_transaction(function):
    """Roll back what a refusing billing function left open, so no row lock outlives it."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except errors.BillingError:
            db.session.rollback()
            raise

    return run
