"""The write side: every change to billing state goes through a function in this package.

Functions take primitives, own their transaction, record an audit entry for staff actions
and raise the named errors in ``errors``. Two collaborators come from the app: the iamport
client and the clock (replaceable so a sandbox can move time in tests and the demo).
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app

from ..iamport import IamportClient
from ..models import app_now


def provider() -> IamportClient:
    """Return the app's iamport client."""
    return current_app.extensions["iamport"]


def now() -> datetime:
    """Return the current time by the app's clock (aware UTC)."""
    return app_now()
