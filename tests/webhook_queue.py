"""Running the webhook queue in tests: the dashboard answers webhooks at once and processes
them later, so tests that assert what a webhook changed first run the queue until it is empty.

``drain`` does what the SQLite deployment's queue thread does, in the calling thread, so the
outcome is deterministic. The procrastinate workers themselves are exercised in
tests/billing/test_queue.py.
"""
from __future__ import annotations

from flask import Flask, current_app, has_app_context

from dashboard.billing.webhooks import process_waiting_events
from dashboard.extensions import db
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter


def drain(app: Flask) -> int:
    """Process every waiting webhook event of ``app``; return how many tries were made."""
    if has_app_context() and current_app._get_current_object() is app:
        return _drain()
    with app.app_context():
        try:
            return _drain()
        finally:
            db.session.remove()


def _drain() -> int:
    total = 0
    while tried := process_waiting_events():
        total += tried
    return total


class DrainingAdapter(WSGIAdapter):
    """Deliver a request to the dashboard, then run its queue until empty (a prompt worker)."""

    def __init__(self, app: Flask):
        super().__init__(app)
        self.dashboard = app

    def send(self, request, *args, **kwargs):
        response = super().send(request, *args, **kwargs)
        drain(self.dashboard)
        return response
