"""The operations commands: subscribe, charge-due, sync, create-api-token."""
from __future__ import annotations

from datetime import timedelta

from dashboard.extensions import db
from dashboard.models import ApiToken, Payment, Subscription
from tests.billing.harness import fresh, payments_of


def test_subscribe_registers_the_first_schedule(app, sandbox, plan):
    sandbox.issue_key("cust_cli")
    result = app.test_cli_runner().invoke(
        args=["subscribe", "cust_cli", "--plan", "basic", "--start", "2030-03-01T10:00+09:00"]
    )
    assert result.exit_code == 0, result.output
    sub = db.session.scalar(db.select(Subscription))
    assert "next charge 2030-03-01 01:00 UTC" in result.output
    assert sandbox.client.get_schedule(f"sub{sub.id}-p1-a1").schedule_status == "scheduled"


def test_subscribe_with_charge_now(app, sandbox, plan):
    sandbox.issue_key("cust_cli")
    result = app.test_cli_runner().invoke(args=["subscribe", "cust_cli", "--plan", "basic",
                                                "--charge-now"])
    assert result.exit_code == 0, result.output
    sub = db.session.scalar(db.select(Subscription))
    assert sub.current_period == 1
    assert [p.status for p in payments_of(sub.id)] == ["paid"]


def test_subscribe_errors_are_clear(app, sandbox, plan):
    runner = app.test_cli_runner()
    missing = runner.invoke(args=["subscribe", "nobody", "--plan", "basic"])
    assert missing.exit_code == 1 and "no billing key" in missing.output
    naive = runner.invoke(args=["subscribe", "x", "--plan", "basic", "--start", "2030-01-01"])
    assert naive.exit_code == 2 and "offset" in naive.output
    sandbox.issue_key("cust_cli")
    no_plan = runner.invoke(args=["subscribe", "cust_cli", "--plan", "gold"])
    assert no_plan.exit_code == 1 and "gold" in no_plan.output


def test_charge_due_in_again_mode(app, sandbox, plan):
    runner = app.test_cli_runner()
    sandbox.issue_key("cust_cli")
    runner.invoke(args=["subscribe", "cust_cli", "--plan", "basic"])
    idle = runner.invoke(args=["charge-due"])
    assert "nothing to do" in idle.output
    app.config["BILLING_MODE"] = "again"
    sub = db.session.scalar(db.select(Subscription))
    sub.next_attempt_at = sub.next_charge_at = sub.created_at - timedelta(hours=1)
    db.session.commit()
    result = runner.invoke(args=["charge-due"])
    assert result.exit_code == 0, result.output
    assert "charged 1, declined 0, unknown 0, errors 0" in result.output


def test_sync_reports_a_summary(app, sandbox, plan):
    sandbox.issue_key("cust_cli")
    app.config["BILLING_MODE"] = "again"
    sandbox.fault(path="^/subscribe/payments/again", status=504, count=1, after_commit=True)
    runner = app.test_cli_runner()
    runner.invoke(args=["subscribe", "cust_cli", "--plan", "basic", "--charge-now"])
    assert db.session.scalar(db.select(Payment.status)) == "pending"
    result = runner.invoke(args=["sync", "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "resolved 1" in result.output and "errors 0" in result.output
    assert fresh(Payment, 1).status == "paid"


def test_create_api_token_shows_it_once(app):
    result = app.test_cli_runner().invoke(args=["create-api-token", "shop"])
    assert result.exit_code == 0
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("dsk_")
    assert db.session.scalar(db.select(ApiToken.name)) == "shop"
    assert token not in db.session.scalar(db.select(ApiToken.token_hash))
