"""The write side: every change to billing state goes through a function in this package.

Functions take primitives, own their transaction, record an audit entry for staff actions
and raise the named errors in ``errors``. Two collaborators come from the app: the iamport
client and the clock (replaceable so a sandbox can move time in tests and the demo).
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import current_app

from ..extensions import db
from ..iamport import IamportClient, IamportError, OutcomeUnknown, Rejected
from ..models import app_now
from . import errors


def provider() -> IamportClient:
    """Return the app's iamport client."""
    return current_app.extensions["iamport"]


def now() -> datetime:
    """Return the current time by the app's clock (aware UTC)."""
    return app_now()


@contextmanager
def calling_iamport(
    *, unknown: str, unavailable: str = "iamport could not be reached; nothing changed."
) -> Iterator[None]:
    """Turn the client's errors into billing errors, dropping our uncommitted changes.

    ``unknown`` is what staff are told when iamport's answer was lost (money rule 2).
    """
    try:
        yield
    except Rejected as rejection:
        db.session.rollback()
        raise errors.ProviderRejected(rejection.message or "iamport refused") from rejection
    except OutcomeUnknown as error:
        db.session.rollback()
        raise errors.OutcomeUnknown(unknown) from error
    except IamportError as error:
        db.session.rollback()
        raise errors.ProviderUnavailable(unavailable) from error


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
