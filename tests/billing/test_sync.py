"""Reconciliation repairs what webhooks missed and changes nothing when nothing was missed."""
from __future__ import annotations

from dashboard.billing import intake, sync
from dashboard.models import Subscription
from tests.billing.harness import DAY, fresh, live_schedules_of, payments_of, state_of


def test_sync_repairs_lost_webhooks(app, sandbox, plan):
    sandbox.issue_key("cust_1")
    sandbox.issue_key("cust_2", card_number="5570-4200-0007-0002")
    paying = intake.start_subscription("cust_1", plan_code="basic").id
    declining = intake.start_subscription("cust_2", plan_code="basic").id
    sandbox.lose_webhooks()
    sandbox.advance(120)
    assert len(sandbox.run_due()) == 2
    assert fresh(Subscription, paying).current_period == 0

    summary = sync.run_sync(days=1)
    assert summary.changed >= 2 and summary.errors == []
    sub = fresh(Subscription, paying)
    assert sub.current_period == 1
    assert [s.period for s in live_schedules_of(paying)] == [2]
    failed = fresh(Subscription, declining)
    assert failed.failed_attempts == 1
    assert [(s.period, s.attempt) for s in live_schedules_of(declining)] == [(1, 2)]


def test_sync_after_every_webhook_arrived_changes_nothing(app, sandbox, plan):
    sandbox.issue_key("cust_1")
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    for _ in range(3):
        sandbox.advance(31 * DAY)
        sandbox.run_due()
    before = state_of(sub_id)
    summary = sync.run_sync(days=120)
    assert summary.fetched >= 3
    assert (summary.changed, summary.resolved, summary.errors) == (0, 0, [])
    assert state_of(sub_id) == before


def test_sync_registers_a_schedule_iamport_never_confirmed(app, sandbox, plan):
    sandbox.issue_key("cust_1")
    sandbox.fault(path="^/subscribe/payments/schedule$", status=503, count=1)
    sub_id = intake.start_subscription("cust_1", plan_code="basic").id
    [row] = live_schedules_of(sub_id)
    assert row.registered_at is None
    sync.run_sync(days=1)
    [row] = live_schedules_of(sub_id)
    assert row.registered_at is not None
    assert sandbox.client.get_schedule(row.merchant_uid).schedule_status == "scheduled"
    sandbox.advance(120)
    sandbox.run_due()
    assert [p.status for p in payments_of(sub_id)] == ["paid"]
