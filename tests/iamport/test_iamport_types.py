"""Parsing API JSON into the client's records, and the text of its errors."""

from datetime import UTC, datetime

import pytest

from dashboard.iamport import BillingKey, Page, Payment, Rejected, Schedule
from dashboard.iamport.types import from_unix, to_unix

PAYMENT = {
    "imp_uid": "imp_123456789012",
    "merchant_uid": "sub_1024_2024_07",
    "status": "cancelled",
    "amount": 8900.0,
    "cancel_amount": 1000.0,
    "currency": "KRW",
    "name": "월간 이용권",
    "customer_uid": "cust_1024",
    "customer_uid_usage": "payment",
    "pay_method": "card",
    "pg_provider": "kcp_billing",
    "pg_id": "BA001",
    "pg_tid": "20240701123456",
    "apply_num": "12345678",
    "card_name": "KB국민카드",
    "card_code": "381",
    "card_number": "557042******7221",
    "card_type": 0,
    "buyer_name": "홍길동",
    "buyer_email": None,
    "buyer_tel": "01012345678",
    "custom_data": '{"plan":"monthly"}',
    "started_at": 1719792000,
    "paid_at": 1719792001,
    "failed_at": 0,
    "cancelled_at": 1719800000,
    "fail_reason": None,
    "cancel_reason": "중복 결제",
    "receipt_url": "https://example.invalid/receipt",
    "cancel_history": [
        {
            "pg_tid": "20240701999999",
            "amount": 1000.0,
            "cancelled_at": 1719800000,
            "reason": "중복 결제",
            "cancellation_id": "c_1",
            "receipt_url": None,
        }
    ],
    "cash_receipt_issued": False,
}


def test_payment_amounts_are_int_and_zero_times_are_none():
    payment = Payment.from_api(PAYMENT)

    assert payment.amount == 8900 and isinstance(payment.amount, int)
    assert payment.cancel_amount == 1000 and isinstance(payment.cancel_amount, int)
    assert payment.refundable_amount == 7900
    assert payment.failed_at is None
    assert payment.paid_at == datetime(2024, 7, 1, 0, 0, 1, tzinfo=UTC)
    assert payment.cancel_history[0].amount == 1000
    assert payment.cancel_history[0].cancelled_at == datetime.fromtimestamp(1719800000, UTC)


def test_payment_tolerates_missing_optional_fields():
    payment = Payment.from_api(
        {"imp_uid": "imp_1", "merchant_uid": "m_1", "status": "ready", "amount": 100,
         "cancel_amount": 0, "currency": "KRW"}
    )

    assert payment.cancel_history == ()
    assert payment.started_at is None
    assert payment.card_type is None


def test_billing_key_maps_inserted_and_updated():
    key = BillingKey.from_api(
        {"customer_uid": "cust_1", "pg_provider": "kcp", "pg_id": "BA001", "card_name": "KB",
         "card_number": "557042******7221", "card_type": "1", "inserted": 1719792000,
         "updated": 1719792060}
    )

    assert key.inserted_at == datetime(2024, 7, 1, tzinfo=UTC)
    assert key.updated_at == datetime(2024, 7, 1, 0, 1, tzinfo=UTC)
    assert key.card_type == 1


def test_schedule_before_execution_has_no_payment_status():
    schedule = Schedule.from_api(
        {"merchant_uid": "m_1", "customer_uid": "c_1", "imp_uid": None, "schedule_at": 1719792000,
         "executed_at": 0, "revoked_at": 0, "amount": 8900.0, "currency": "KRW",
         "schedule_status": "scheduled", "payment_status": None}
    )

    assert schedule.executed_at is None and schedule.revoked_at is None
    assert schedule.payment_status is None
    assert schedule.amount == 8900


def test_page_from_paged_object_turns_zero_neighbours_into_none():
    page = Page.from_api(
        {"total": 41, "previous": 0, "next": 2, "list": [PAYMENT]}, Payment.from_api
    )

    assert (page.total, page.previous, page.next) == (41, None, 2)
    assert page.items[0].imp_uid == "imp_123456789012"


def test_page_from_bare_array_is_a_single_last_page():
    page = Page.from_api([PAYMENT, PAYMENT], Payment.from_api)

    assert (page.total, page.previous, page.next) == (2, None, None)
    assert len(page.items) == 2


def test_unix_conversion_requires_aware_datetimes():
    assert to_unix(datetime(2024, 7, 1, tzinfo=UTC)) == 1719792000
    assert from_unix(0) is None and from_unix(None) is None
    with pytest.raises(ValueError):
        to_unix(datetime(2024, 7, 1))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("거절 5570-4200-1234-7221 카드", "거절 [redacted] 카드"),
        ("card 5570420012347221.", "card [redacted]."),
        ("imp_123456789012 not found", "imp_123456789012 not found"),
        ("order_20240701123456", "order_20240701123456"),
        ("[CC10] 통장 잔액부족", "[CC10] 통장 잔액부족"),
    ],
)
def test_error_text_masks_card_numbers_but_not_ids(text, expected):
    error = Rejected(code=-1, message=text, http_status=200)

    assert error.message == expected
    assert expected in str(error)
