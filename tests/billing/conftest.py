"""The dashboard wired to an in-process sandbox both ways: the client's session calls the
sandbox's WSGI app, and the sandbox delivers webhooks into the dashboard's WSGI app. The
dashboard's clock is the sandbox's clock, so tests move time for both at once."""
from __future__ import annotations

import pytest

from dashboard.extensions import db
from dashboard.models import Plan


@pytest.fixture
def app_config(app_config, sandbox):
    return {**app_config, **sandbox.app_config()}


@pytest.fixture
def app(app, sandbox):
    """The dashboard, receiving the sandbox's webhooks in process."""
    sandbox.deliver_to(app)
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def plan(app):
    plan = Plan(code="basic", name="베이직 월간", amount=9900, credits_per_period=100)
    db.session.add(plan)
    db.session.commit()
    return plan
