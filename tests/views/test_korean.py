"""Korean mode says everything in Korean, with particles that fit the words before them."""
from __future__ import annotations

import pytest

from dashboard.actions import REFUSALS
from dashboard.extensions import db
from dashboard.messages import billing_detail, untranslatable_refusals, webhook_error
from dashboard.models import AuditEntry
from dashboard.particles import attach

from .conftest import make_customer, make_event, make_payment


@pytest.mark.parametrize(("text", "expected"), [
    ("김민수을(를) 환불", "김민수를 환불"),
    ("₩9,900을(를) 환불", "₩9,900을 환불"),
    ("이서연이(가) 결제", "이서연이 결제"),
    ("김민수이(가) 결제", "김민수가 결제"),
    ("신한카드 5570-42**-****-7221(으)로", "신한카드 5570-42**-****-7221로"),
    ("2026-12-01 09:00 KST(으)로", "2026-12-01 09:00 KST로"),
    ("“월말 실패”(으)로 저장", "“월말 실패”로 저장"),
    ("₩3,000(으)로", "₩3,000으로"),
    ("정기결제은(는)", "정기결제는"),
])
def test_particles_agree_with_the_word_before_them(text, expected):
    assert attach(text) == expected


def test_every_refusal_sentence_has_a_korean_translation(app):
    assert untranslatable_refusals() == []
    with app.test_request_context():
        for sentence in REFUSALS.values():
            assert billing_detail(sentence) != sentence, sentence
        assert billing_detail("This period is already paid.") == "이 기간은 이미 결제되었습니다."


def test_a_failed_webhook_reads_processing_failed_with_its_error_in_korean(app, admin_client):
    with app.app_context():
        make_event(state="failed", imp_uid="imp_1", status="paid",
                   error="iamport unavailable: read timeout")
    html = admin_client.get("/webhook-events").get_data(as_text=True)
    row = html.split("<tbody>")[1]
    assert "처리 실패" in row and "결제 실패" not in row
    assert "아임포트에 연결할 수 없습니다: read timeout" in row
    assert "결제 완료" in row  # the reported status "paid", named
    with app.test_request_context():
        assert webhook_error("ok") == "완료"


def test_system_actions_and_refund_confirmations_read_in_korean(app, as_role):
    with app.app_context():
        customer = make_customer(name="김민수")
        payment = make_payment(customer, 9900)
        db.session.add(AuditEntry(action="customer.sync", target_type="customer",
                                  target_id=customer.customer_uid, customer_id=customer.id,
                                  actor_label="system"))
        db.session.commit()
        customer_id, payment_id = customer.id, payment.id
    client = as_role("support")
    timeline = client.get(f"/customers/{customer_id}").get_data(as_text=True).split(
        'class="timeline"')[1]
    assert "시스템" in timeline and ">system<" not in timeline
    confirm = client.post(f"/payments/{payment_id}/refund",
                          data={"amount": "3000", "reason": "중복 결제"}).get_data(as_text=True)
    assert "₩3,000을 환불합니다" in confirm and "을(를)" not in confirm


def test_each_request_is_translated_in_its_own_language(admin_client):
    # Translations and labels are looked up once per request, never once per process.
    admin_client.set_cookie("lang", "ko")
    korean = admin_client.get("/payments").get_data(as_text=True)
    admin_client.set_cookie("lang", "en")
    english = admin_client.get("/payments").get_data(as_text=True)
    assert "조건에 맞는 결제가 없습니다." in korean and "No payments match." not in korean
    assert "No payments match." in english and "조건에 맞는 결제가 없습니다." not in english
