"""Billing dates: every period end is counted from the anchor (the start's local date and
time in DISPLAY_TIMEZONE), in both billing modes, for a year."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from dashboard.billing import audit, charges, intake, lifecycle
from dashboard.extensions import db
from dashboard.models import Plan, Subscription
from tests.billing.harness import fresh, payments_of

KST = ZoneInfo("Asia/Seoul")
STAFF = audit.Actor("support@example.com")


def set_clock(sandbox, moment: datetime) -> None:
    sandbox.control("POST", "/clock", now=int(moment.timestamp()))


def charge_when_due(sandbox, sub_id: int, mode: str) -> None:
    """Move the clock to the subscription's next attempt and let that mode charge it."""
    due = fresh(Subscription, sub_id).next_attempt_at
    set_clock(sandbox, due)
    sandbox.advance(1)
    if mode == "again":
        charges.charge_due()
    else:
        sandbox.run_due()


def bill(sandbox, mode: str, start: datetime, periods: int, uid: str = "cust_1") -> tuple:
    """Start a subscription at ``start`` and bill ``periods`` periods; return the
    subscription id and each paid period's (start, end) in KST."""
    sandbox.control("POST", "/clock", now=int(start.timestamp()) - 3600)
    sandbox.issue_key(uid)
    sub_id = intake.start_subscription(uid, plan_code="basic", start_at=start).id
    spans = []
    for _ in range(periods):
        charge_when_due(sandbox, sub_id, mode)
        sub = fresh(Subscription, sub_id)
        spans.append((sub.current_period_start.astimezone(KST),
                      sub.current_period_end.astimezone(KST)))
    assert fresh(Subscription, sub_id).current_period == periods
    return sub_id, spans


@pytest.fixture(params=["schedule", "again"])
def mode(request, app):
    app.config["BILLING_MODE"] = request.param
    return request.param


def local_days(spans) -> list[str]:
    return [end.strftime("%m-%d %H:%M") for _, end in spans]


def test_the_31st_clamps_to_short_months_and_comes_back(app, sandbox, plan, mode):
    _, spans = bill(sandbox, mode, datetime(2027, 1, 31, 10, 0, tzinfo=KST), 4)
    assert local_days(spans) == ["02-28 10:00", "03-31 10:00", "04-30 10:00", "05-31 10:00"]


def test_a_leap_year_february_ends_on_the_29th(app, sandbox, plan, mode):
    _, spans = bill(sandbox, mode, datetime(2028, 1, 31, 10, 0, tzinfo=KST), 2)
    assert local_days(spans) == ["02-29 10:00", "03-31 10:00"]


def test_a_start_just_after_midnight_kst_keeps_its_local_day(app, sandbox, plan, mode):
    """00:30 KST on the 1st is 15:30 UTC on the last day of the month before."""
    start = datetime(2027, 1, 1, 0, 30, tzinfo=KST)
    assert start.astimezone(UTC).day == 31
    _, spans = bill(sandbox, mode, start, 3)
    assert local_days(spans) == ["02-01 00:30", "03-01 00:30", "04-01 00:30"]


@pytest.mark.parametrize("start_day", [29, 30, 31])
def test_a_year_of_monthly_billing_keeps_every_anchor_day(app, sandbox, plan, mode, start_day):
    start = datetime(2027, 1, start_day, 9, 15, tzinfo=KST)
    sub_id, spans = bill(sandbox, mode, start, 12)
    for month, (_period_start, end) in enumerate(spans, start=2):
        year, month = (2027, month) if month <= 12 else (2028, month - 12)
        last = (datetime(year + month // 12, month % 12 + 1, 1) - datetime(year, month, 1)).days
        assert (end.year, end.month, end.day) == (year, month, min(start_day, last))
        assert (end.hour, end.minute) == (9, 15)
    # Consecutive periods join up: each starts where the one before ended.
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    assert [p.status for p in payments_of(sub_id)] == ["paid"] * 12
    assert fresh(Subscription, sub_id).billing_anchor == start.replace(tzinfo=None)


def test_the_anchor_follows_the_display_timezone(app, sandbox, plan):
    """The same instant anchored in UTC lands on the UTC day."""
    app.config["DISPLAY_TIMEZONE"] = "UTC"
    app.config["BILLING_MODE"] = "again"
    start = datetime(2027, 1, 1, 0, 30, tzinfo=KST)  # 2026-12-31 15:30 UTC
    _, spans = bill(sandbox, "again", start, 3)
    assert [end.astimezone(UTC).strftime("%m-%d %H:%M") for _, end in spans] == [
        "01-31 15:30", "02-28 15:30", "03-31 15:30"]


def test_a_daily_plan_counts_days_from_the_anchor(app, sandbox):
    db.session.add(Plan(code="basic", name="일간", amount=500, interval_unit="day",
                        interval_count=7))
    db.session.commit()
    app.config["BILLING_MODE"] = "again"
    _, spans = bill(sandbox, "again", datetime(2027, 3, 1, 8, 0, tzinfo=KST), 3)
    assert local_days(spans) == ["03-08 08:00", "03-15 08:00", "03-22 08:00"]


def test_reinstating_a_lapsed_subscription_moves_the_anchor_to_now(app, sandbox, plan, mode):
    sub_id, _ = bill(sandbox, mode, datetime(2027, 1, 31, 10, 0, tzinfo=KST), 1)
    lifecycle.cancel_subscription(sub_id, actor=STAFF, reason="고객 요청", at_period_end=False)
    set_clock(sandbox, datetime(2027, 4, 10, 14, 0, tzinfo=KST))
    lifecycle.reinstate_subscription(sub_id, actor=STAFF, reason="돌아옴")
    sub = fresh(Subscription, sub_id)
    assert sub.billing_anchor == datetime(2027, 4, 10, 14, 5)
    charge_when_due(sandbox, sub_id, mode)
    charge_when_due(sandbox, sub_id, mode)
    ends = [fresh(Subscription, sub_id).current_period_end.astimezone(KST)]
    assert ends[0].strftime("%m-%d %H:%M") == "06-10 14:05"


def test_resuming_before_the_paid_period_ends_keeps_the_anchor(app, sandbox, plan, mode):
    sub_id, _ = bill(sandbox, mode, datetime(2027, 1, 31, 10, 0, tzinfo=KST), 1)
    lifecycle.pause_subscription(sub_id, actor=STAFF, reason="여행")
    set_clock(sandbox, datetime(2027, 2, 10, 9, 0, tzinfo=KST))
    lifecycle.resume_subscription(sub_id, actor=STAFF)
    assert fresh(Subscription, sub_id).billing_anchor == datetime(2027, 1, 31, 10, 0)
    charge_when_due(sandbox, sub_id, mode)
    end = fresh(Subscription, sub_id).current_period_end.astimezone(KST)
    assert end.strftime("%m-%d %H:%M") == "03-31 10:00"
