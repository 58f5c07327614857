"""The one clock: every "now" in the app comes from here.

A sandbox replaces the app's clock (``app.extensions["clock"]``) so tests and the demo can move
time; outside an app context the wall clock is used.
"""
from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, has_app_context


def utcnow() -> datetime:
    """Return the wall-clock time as an aware UTC datetime."""
    return datetime.now(UTC)


def now() -> datetime:
    """Return the current time by the app's clock (aware UTC)."""
    clock = current_app.extensions.get("clock") if has_app_context() else None
    return clock() if clock is not None else utcnow()
