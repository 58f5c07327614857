"""What the real API does that the happy path never shows: long PG messages, deleted keys,
refused registrations."""
from __future__ import annotations

import pytest

from dashboard.billing import audit, charges, intake
from dashboard.models import Payment, Schedule, WebhookEvent
from tests.billing.harness import DAY, event_states, fresh, payments_of

STAFF = audit.Actor("support@example.com")
LONG_REASON = "[CC99] " + "카드사 응답: 승인 거절 사유가 매우 깁니다 🙂 " * 20


@pytest.fixture
def again_mode(app):
    app.config["BILLING_MODE"] = "again"


def start(sandbox, uid="cust_1", **kwargs):
    sandbox.issue_key(uid)
    return intake.start_subscription(uid, plan_code="basic", **kwargs).id


def test_a_long_pg_message_fits_its_column_and_the_webhook_is_processed(app, sandbox, plan):
    sub_id = start(sandbox)
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="decline",
                    fail_reason=LONG_REASON)
    sandbox.advance(120)
    sandbox.run_due()
    [failed] = payments_of(sub_id)
    assert failed.status == "failed"
    assert failed.fail_reason == LONG_REASON[:256]
    schedule = fresh(Schedule, 1)
    assert schedule.payment_status == "failed" and len(schedule.fail_reason) <= 256
    assert event_states() == ["processed"]


def test_a_long_pg_message_on_an_again_charge_fits(app, sandbox, plan, again_mode):
    sub_id = start(sandbox)
    sandbox.control("PUT", "/customers/cust_1/behavior", outcome="decline",
                    fail_reason=LONG_REASON)
    assert charges.charge_due().declined == [f"sub{sub_id}-p1-a1"]
    assert fresh(Payment, payments_of(sub_id)[0].id).fail_reason == LONG_REASON[:256]


def test_fit_cuts_by_characters_and_never_leaves_half_a_surrogate_pair():
    from dashboard.text import fit

    assert fit("홍길동전", 3) == "홍길동"
    assert fit("ab🙂", 3) == "ab🙂"
    # A string that came in as UTF-16 pairs (e.g. decoded with surrogatepass).
    paired = "ab\ud83d\ude42"
    assert fit(paired, 3) == "ab"
    assert fit(None, 3) is None and fit("", 3) == ""
