"""Failure mapping: what is retried, what is reported as unknown, and what stays secret."""

from __future__ import annotations

import logging

import pytest

from dashboard.iamport import (
    IamportError,
    NotFound,
    OutcomeUnknown,
    Rejected,
    ScheduleRequest,
    Unavailable,
)

from .conftest import GOOD_CARD, IMP_SECRET, READ_TIMEOUT

SLOW = READ_TIMEOUT + 0.15  # a delay the client's read timeout gives up on
AGAIN = "/subscribe/payments/again"


def _request(sandbox, merchant_uid):
    return ScheduleRequest(merchant_uid, sandbox.at(days=1), 8900, "월간 이용권")


def charge(iamport, merchant_uid="order_1", amount=8900):
    return iamport.pay_again(customer_uid="cust_good", merchant_uid=merchant_uid,
                             amount=amount, name="월간 이용권")


# -- reads: retried, then Unavailable -------------------------------------------------------


def test_read_is_retried_through_a_passing_outage(iamport, billing_key, sandbox, recorder):
    sandbox.fault("^/subscribe/customers/cust_good$", status=503, count=2)

    assert iamport.get_billing_key("cust_good").customer_uid == "cust_good"
    statuses = [e.status for e in recorder.calls("GET", "/subscribe/customers/cust_good")]
    assert statuses == [503, 503, 200]


def test_read_is_unavailable_after_its_retries(make_client, billing_key, sandbox, recorder):
    iamport = make_client(read_retries=2)
    sandbox.fault("^/payments/find/", status=503, count=10)

    with pytest.raises(Unavailable) as caught:
        iamport.find_payment("order_1")

    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.http_status == 503
    assert len(recorder.calls("GET", "/payments/find/order_1")) == 3  # 1 + read_retries


def test_read_timeout_is_retried_then_unavailable(make_client, billing_key, sandbox, recorder):
    iamport = make_client(read_retries=1)
    sandbox.fault("^/subscribe/customers/cust_good$", delay=SLOW, count=2)

    with pytest.raises(Unavailable) as caught:
        iamport.get_billing_key("cust_good")

    assert "timeout" in str(caught.value)
    assert [e.error for e in recorder.calls("GET", "/subscribe/customers/cust_good")] == [
        "ReadTimeout", "ReadTimeout"]


def test_refused_connection_on_a_read_is_unavailable(iamport, billing_key, wsgi_adapter):
    wsgi_adapter.refuse_connections = True

    with pytest.raises(Unavailable):
        iamport.get_billing_key("cust_good")


# -- money- and schedule-changing calls: never retried, OutcomeUnknown ----------------------


def test_charge_whose_answer_times_out_is_outcome_unknown_and_happened(iamport, billing_key,
                                                                       sandbox, recorder):
    sandbox.fault(f"^{AGAIN}$", delay=SLOW)

    with pytest.raises(OutcomeUnknown) as caught:
        charge(iamport, "order_slow")

    assert caught.value.path == AGAIN
    assert len(recorder.calls("POST", AGAIN)) == 1  # never repeated
    # The answer was lost, not the charge.
    assert iamport.find_payment("order_slow").status == "paid"


def test_charge_failing_after_commit_is_outcome_unknown_and_happened(iamport, billing_key,
                                                                     sandbox, recorder):
    sandbox.fault(f"^{AGAIN}$", status=500, after_commit=True)

    with pytest.raises(OutcomeUnknown) as caught:
        charge(iamport, "order_committed")

    assert caught.value.http_status == 500
    assert len(recorder.calls("POST", AGAIN)) == 1
    assert iamport.find_payment("order_committed").status == "paid"


def test_charge_timing_out_after_commit_is_outcome_unknown(iamport, billing_key, sandbox):
    sandbox.fault(f"^{AGAIN}$", delay=SLOW, after_commit=True)

    with pytest.raises(OutcomeUnknown):
        charge(iamport, "order_late")

    assert iamport.find_payment("order_late", "paid").amount == 8900


def test_gateway_error_before_the_charge_is_still_unknown_to_the_client(iamport, billing_key,
                                                                        sandbox):
    # The server never ran it, but a 504 cannot say so: the caller must ask, not assume.
    sandbox.fault(f"^{AGAIN}$", status=504)

    with pytest.raises(OutcomeUnknown):
        charge(iamport, "order_gateway")

    with pytest.raises(NotFound):
        iamport.find_payment("order_gateway")


def test_refund_whose_answer_is_lost_is_outcome_unknown_and_happened(iamport, billing_key,
                                                                     sandbox, recorder):
    paid = charge(iamport, "order_refund", amount=10000)
    sandbox.fault("^/payments/cancel$", delay=SLOW, after_commit=True)

    with pytest.raises(OutcomeUnknown):
        iamport.cancel_payment(imp_uid=paid.imp_uid, amount=4000, checksum=10000, reason="환불")

    assert len(recorder.calls("POST", "/payments/cancel")) == 1
    assert iamport.get_payment(paid.imp_uid).cancel_amount == 4000


def test_refund_answered_with_503_is_not_repeated(iamport, billing_key, sandbox, recorder):
    paid = charge(iamport, "order_refund_503")
    sandbox.fault("^/payments/cancel$", status=503, count=5)

    with pytest.raises(OutcomeUnknown):
        iamport.cancel_payment(imp_uid=paid.imp_uid, reason="환불")

    assert len(recorder.calls("POST", "/payments/cancel")) == 1


@pytest.mark.parametrize(
    "path, call",
    [
        ("^/subscribe/payments/schedule$",
         lambda c, s: c.schedule_payments("cust_good", [_request(s, "sched_new")])),
        ("^/subscribe/payments/unschedule$", lambda c, s: c.unschedule_payments("cust_good")),
        ("^/subscribe/payments/schedule/sched_1$",
         lambda c, s: c.update_schedule_time("sched_1", s.at(days=3))),
        ("^/subscribe/customers/cust_good$", lambda c, s: c.delete_billing_key("cust_good")),
        ("^/subscribe/customers/cust_new$",
         lambda c, s: c.issue_billing_key("cust_new", card_number=GOOD_CARD, expiry="2030-12",
                                          birth="900101")),
    ],
    ids=["schedule", "unschedule", "update-time", "delete-key", "issue-key"],
)
def test_every_changing_call_reports_lost_answers_as_outcome_unknown(
        iamport, billing_key, sandbox, recorder, path, call):
    iamport.schedule_payments("cust_good", [_request(sandbox, "sched_1")])
    sandbox.fault(path, status=502, count=3)
    before = len(recorder.exchanges)

    with pytest.raises(OutcomeUnknown):
        call(iamport, sandbox)

    assert len(recorder.exchanges) == before + 1


def test_refused_request_is_rejected_and_nothing_happened(iamport, billing_key, sandbox):
    sandbox.fault(f"^{AGAIN}$", status=400)

    with pytest.raises(Rejected) as caught:
        charge(iamport, "order_refused")

    assert (caught.value.http_status, caught.value.code) == (400, -1)
    with pytest.raises(NotFound):
        iamport.find_payment("order_refused")


def test_rate_limit_on_a_charge_is_unavailable_not_rejected(iamport, billing_key, sandbox):
    sandbox.fault(f"^{AGAIN}$", status=429)

    with pytest.raises(Unavailable) as caught:
        charge(iamport, "order_busy")

    assert caught.value.http_status == 429
    assert not isinstance(caught.value, OutcomeUnknown)  # refused before any work was done


def test_errors_say_where_they_happened(iamport):
    with pytest.raises(NotFound) as caught:
        iamport.get_payment("imp_000000000000")

    text = str(caught.value)
    assert text.startswith("GET /payments/imp_000000000000: ")
    assert "HTTP 404" in text


# -- secrets ----------------------------------------------------------------------------------


def test_secrets_and_card_data_stay_out_of_errors_and_logs(make_client, iamport, sandbox,
                                                           caplog):
    caplog.set_level(logging.DEBUG, logger="dashboard.iamport")
    token = iamport.get_token()
    texts = []
    sandbox.fault("^/subscribe/customers/cust_secret$", status=503)
    with pytest.raises(OutcomeUnknown) as lost:
        iamport.issue_billing_key("cust_secret", card_number=GOOD_CARD, expiry="2030-12",
                                  birth="851231", pwd_2digit="47")
    texts.append(str(lost.value))
    with pytest.raises(Rejected) as refused:
        iamport.issue_billing_key("cust_secret", card_number="5570-4200-9999-8",
                                  expiry="2030-12", birth="851231", pwd_2digit="47")
    texts.append(str(refused.value))
    with pytest.raises(IamportError) as auth:
        make_client(imp_secret=IMP_SECRET + "x").get_token()
    texts.append(str(auth.value))
    texts.append(repr(iamport))
    texts.append(repr(iamport._token))
    texts.append(caplog.text)

    everything = "\n".join(texts)
    for secret in (IMP_SECRET, token, GOOD_CARD, GOOD_CARD.replace("-", ""), "557042009999",
                   "851231", "2030-12"):
        assert secret not in everything
    assert "POST /subscribe/customers/cust_secret -> 503" in caplog.text
    assert all(record.levelno == logging.DEBUG for record in caplog.records
               if record.name == "dashboard.iamport")


def test_log_lines_carry_method_path_status_and_time_only(iamport, billing_key, caplog):
    caplog.set_level(logging.DEBUG, logger="dashboard.iamport")

    iamport.get_billing_keys(["cust_good", "cust_missing"])

    [line] = [r.getMessage() for r in caplog.records if r.name == "dashboard.iamport"]
    assert line.startswith("GET /subscribe/customers -> 207 in ")
    assert line.endswith(" ms")
    assert "cust_missing" not in line  # query strings are not logged
