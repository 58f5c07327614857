"""Scheduled payments: create, list, change, revoke, execute, reschedule and retry."""

import pytest

from .conftest import DECLINED_CARD, GOOD_CARD

HOUR = 3600


@pytest.fixture
def key(api):
    api.issue_key("cust_1", customer_email="hong@example.com")
    return "cust_1"


def test_create_answers_an_array_of_waiting_schedules_with_buyer_defaults(api, state, key):
    at = state.now() + HOUR
    response = api.schedule(key, ("sub_1", at), ("sub_2", at + 30 * 86400), amount=8900)

    created = response.json()["response"]
    assert [s["merchant_uid"] for s in created] == ["sub_1", "sub_2"]
    first = created[0]
    assert first["schedule_status"] == "scheduled"
    assert first["payment_status"] is None and first["imp_uid"] is None
    assert (first["schedule_at"], first["executed_at"], first["revoked_at"]) == (at, 0, 0)
    assert (first["amount"], first["currency"], first["name"]) == (8900, "KRW", "월간 이용권")
    assert first["buyer_name"] == "홍길동"  # taken from the key's customer_* fields
    assert first["buyer_email"] == "hong@example.com"
    assert (first["pg_provider"], first["pg_id"]) == ("kcp", "BA001")


def test_create_accepts_form_bracket_arrays(api, state, key):
    at = state.now() + HOUR
    response = api.post("/subscribe/payments/schedule", data={
        "customer_uid": key,
        "schedules[0][merchant_uid]": "sub_a", "schedules[0][schedule_at]": str(at),
        "schedules[0][amount]": "1000", "schedules[0][name]": "A",
        "schedules[1][merchant_uid]": "sub_b", "schedules[1][schedule_at]": str(at + 1),
        "schedules[1][amount]": "2000", "schedules[1][name]": "B",
        "schedules[1][buyer_name]": "김철수",
    })

    created = response.json()["response"]
    assert [(s["merchant_uid"], s["amount"]) for s in created] == [("sub_a", 1000),
                                                                   ("sub_b", 2000)]
    assert created[1]["buyer_name"] == "김철수"


def test_duplicate_past_and_incomplete_schedules_are_refused_atomically(api, state, key):
    now = state.now()
    api.schedule(key, ("sub_1", now + HOUR))

    duplicate = api.schedule(key, ("sub_new", now + HOUR), ("sub_1", now + HOUR))
    in_past = api.schedule(key, ("sub_past", now - 1))
    no_name = api.post("/subscribe/payments/schedule", json={"customer_uid": key, "schedules": [
        {"merchant_uid": "x", "schedule_at": now + HOUR, "amount": 100}]})

    assert duplicate.status_code == 200 and duplicate.json()["code"] == 1
    assert "sub_1" in duplicate.json()["message"]
    assert api.get("/subscribe/payments/schedule/sub_new").status_code == 404
    assert in_past.status_code == 400
    assert no_name.status_code == 400
    assert no_name.json()["message"] == "schedules[0]: name 파라메터가 누락되었습니다."


def test_unknown_key_needs_card_data_which_then_issues_the_key(api, state):
    at = state.now() + HOUR
    without_card = api.schedule("new_cust", ("sub_1", at))
    bad_card = api.post("/subscribe/payments/schedule", json={
        "customer_uid": "new_cust", "card_number": GOOD_CARD, "expiry": "2001-01",
        "birth": "880101", "schedules": [{"merchant_uid": "sub_1", "schedule_at": at,
                                          "amount": 100, "name": "A"}]})
    with_card = api.post("/subscribe/payments/schedule", json={
        "customer_uid": "new_cust", "card_number": GOOD_CARD, "expiry": "2030-01",
        "birth": "880101", "pwd_2digit": "12",
        "schedules": [{"merchant_uid": "sub_1", "schedule_at": at, "amount": 100, "name": "A"}]})

    assert without_card.json() == {"code": 1, "message": "등록된 고객정보가 없습니다.",
                                   "response": None}
    assert bad_card.json()["code"] == 1
    assert bad_card.json()["message"].startswith("카드정보 확인에 실패하였습니다. [CC54]")
    assert with_card.json()["code"] == 0
    assert api.get("/subscribe/customers/new_cust").json()["response"]["card_name"] == "KB국민카드"


def test_unknown_schedule_is_404(api):
    response = api.get("/subscribe/payments/schedule/nope")
    assert response.status_code == 404
    assert response.json()["code"] == 1


def test_range_listing_is_paged_sorted_and_filtered(api, state, key):
    start = state.now() + HOUR
    api.schedule(key, *[(f"sub_{n}", start + n * 60) for n in range(5)])
    api.post("/subscribe/payments/unschedule", json={"merchant_uid": ["sub_4"]})
    window = {"schedule_from": start, "schedule_to": start + 4 * 60 + 1}

    newest = api.get("/subscribe/payments/schedule", params={**window, "limit": 2}).json()
    oldest = api.get("/subscribe/payments/schedule",
                     params={**window, "limit": 2, "page": 2, "sorting": "scheduled"}).json()
    waiting = api.get("/subscribe/payments/schedule",
                      params={**window, "schedule_status": "scheduled"}).json()

    assert newest["response"]["total"] == 5
    assert [s["merchant_uid"] for s in newest["response"]["list"]] == ["sub_4", "sub_3"]
    assert newest["response"]["next"] == 2
    assert [s["merchant_uid"] for s in oldest["response"]["list"]] == ["sub_2", "sub_3"]
    assert (oldest["response"]["previous"], oldest["response"]["next"]) == (1, 3)
    assert waiting["response"]["total"] == 4


def test_range_listing_checks_its_parameters(api, state):
    now = state.now()
    assert api.get("/subscribe/payments/schedule", params={"schedule_from": now}).status_code == 400
    too_long = {"schedule_from": now, "schedule_to": now + 93 * 86400}
    assert api.get("/subscribe/payments/schedule", params=too_long).status_code == 400
    bad_limit = {"schedule_from": now, "schedule_to": now + 1, "limit": 1001}
    assert api.get("/subscribe/payments/schedule", params=bad_limit).status_code == 400
    bad_status = {"schedule_from": now, "schedule_to": now + 1, "schedule_status": "done"}
    assert api.get("/subscribe/payments/schedule", params=bad_status).status_code == 400


def test_customer_schedule_lists_on_both_paths(api, state, key):
    api.issue_key("other")
    start = state.now() + HOUR
    api.schedule(key, ("sub_1", start), ("sub_2", start + 60))
    api.schedule("other", ("sub_x", start))
    api.post("/subscribe/payments/unschedule", json={"merchant_uid": "sub_2"})

    for path in (f"/subscribe/customers/{key}/schedules",
                 f"/subscribe/payments/schedule/customers/{key}"):
        every = api.get(path, params={"from": start, "to": start + HOUR}).json()["response"]
        revoked = api.get(path, params={"from": start, "to": start + HOUR,
                                        "schedule-status": "revoked"}).json()["response"]
        assert [s["merchant_uid"] for s in every["list"]] == ["sub_2", "sub_1"]
        assert [s["merchant_uid"] for s in revoked["list"]] == ["sub_2"]
    assert api.get(f"/subscribe/customers/{key}/schedules",
                   params={"from": start}).status_code == 400


def test_changing_the_time_of_a_waiting_schedule(api, state, key):
    now = state.now()
    api.schedule(key, ("sub_1", now + HOUR), ("sub_2", now + 60))

    moved = api.put("/subscribe/payments/schedule/sub_1", json={"schedule_at": now + 2 * HOUR})
    past = api.put("/subscribe/payments/schedule/sub_1", data={"schedule_at": str(now - 10)})
    missing = api.put("/subscribe/payments/schedule/nope", json={"schedule_at": now + HOUR})
    state.advance(120)
    state.run_due()
    executed = api.put("/subscribe/payments/schedule/sub_2", json={"schedule_at": now + HOUR})

    assert moved.json()["response"]["schedule_at"] == now + 2 * HOUR
    assert past.status_code == 400
    assert missing.status_code == 404
    assert executed.status_code == 400


def test_unschedule_by_list_string_or_customer(api, state, key):
    at = state.now() + HOUR
    api.schedule(key, *[(f"sub_{n}", at + n) for n in range(4)])

    by_list = api.post("/subscribe/payments/unschedule", json={"merchant_uid": ["sub_0", "sub_1"]})
    by_string = api.post("/subscribe/payments/unschedule",
                         data={"customer_uid": key, "merchant_uid": "sub_2"})
    by_form_list = api.post("/subscribe/payments/unschedule", data={"merchant_uid[]": ["sub_3"]})
    nothing = api.post("/subscribe/payments/unschedule", json={"customer_uid": key})

    assert [s["merchant_uid"] for s in by_list.json()["response"]] == ["sub_0", "sub_1"]
    assert by_list.json()["response"][0]["schedule_status"] == "revoked"
    assert by_list.json()["response"][0]["revoked_at"] == state.now()
    assert [s["merchant_uid"] for s in by_string.json()["response"]] == ["sub_2"]
    assert [s["merchant_uid"] for s in by_form_list.json()["response"]] == ["sub_3"]
    assert nothing.json() == {"code": 1, "message": "취소할 예약결제 기록이 존재하지 않습니다.",
                              "response": None}


def test_unschedule_by_customer_revokes_all_its_waiting_schedules(api, state, key):
    at = state.now() + HOUR
    api.schedule(key, ("sub_1", at), ("sub_2", at + 1))

    revoked = api.post("/subscribe/payments/unschedule", json={"customer_uid": key})

    assert len(revoked.json()["response"]) == 2


def test_run_due_executes_due_schedules_and_posts_webhooks_for_paid_and_failed(
        api, state, receiver, session):
    api.issue_key("bad", DECLINED_CARD)
    api.issue_key("good")
    now = state.now()
    api.schedule("good", ("sub_good", now + 60), ("sub_later", now + HOUR))
    api.schedule("bad", ("sub_bad", now + 61))

    assert session.post("https://api.iamport.kr/_sandbox/run-due").json() == {"executed": []}
    session.post("https://api.iamport.kr/_sandbox/clock", json={"advance": 120})
    executed = session.post("https://api.iamport.kr/_sandbox/run-due").json()

    assert executed == {"executed": ["sub_good", "sub_bad"]}
    good = api.get("/subscribe/payments/schedule/sub_good").json()["response"]
    bad = api.get("/subscribe/payments/schedule/sub_bad").json()["response"]
    assert (good["schedule_status"], good["payment_status"]) == ("executed", "paid")
    assert good["executed_at"] == state.now()
    assert (bad["payment_status"], bad["fail_reason"]) == ("failed", "[CC10] 통장 잔액부족")
    payment = api.get(f"/payments/{good['imp_uid']}").json()["response"]
    assert payment["customer_uid_usage"] == "payment.scheduled"
    assert payment["merchant_uid"] == "sub_good"
    assert [(c["json"]["merchant_uid"], c["json"]["status"]) for c in receiver.calls] == [
        ("sub_good", "paid"), ("sub_bad", "failed")]
    assert receiver.calls[1]["json"]["imp_uid"] == bad["imp_uid"]
    assert api.get("/subscribe/payments/schedule/sub_later").json()["response"][
        "schedule_status"] == "scheduled"


def test_reschedule_puts_a_failed_schedule_back_at_a_new_time(api, state, key):
    api.put(f"/_sandbox/customers/{key}/behavior", json={"outcome": "decline"})
    api.schedule(key, ("sub_1", state.now() + 60))
    state.advance(60)
    state.run_due()
    api.put(f"/_sandbox/customers/{key}/behavior", json={"outcome": "approve"})

    at = state.now() + 86400
    rescheduled = api.post("/subscribe/payments/schedule/sub_1/reschedule",
                           json={"schedule_at": at}).json()["response"]
    state.set_now(at)
    state.run_due()
    final = api.get("/subscribe/payments/schedule/sub_1").json()["response"]

    assert rescheduled["schedule_status"] == "scheduled"
    assert (rescheduled["schedule_at"], rescheduled["executed_at"]) == (at, 0)
    assert rescheduled["payment_status"] is None and rescheduled["fail_reason"] is None
    assert (final["schedule_status"], final["payment_status"]) == ("executed", "paid")
    assert api.get("/payments/findAll/sub_1").json()["response"]["total"] == 2


def test_reschedule_refuses_waiting_or_paid_schedules_and_past_times(api, state, key):
    now = state.now()
    api.schedule(key, ("waiting", now + HOUR), ("paid", now + 10))
    state.advance(10)
    state.run_due()

    assert api.post("/subscribe/payments/schedule/waiting/reschedule",
                    json={"schedule_at": now + 2 * HOUR}).status_code == 400
    assert api.post("/subscribe/payments/schedule/paid/reschedule",
                    json={"schedule_at": now + 2 * HOUR}).status_code == 400
    assert api.post("/subscribe/payments/schedule/nope/reschedule",
                    json={"schedule_at": now + 2 * HOUR}).status_code == 404
    api.post("/subscribe/payments/unschedule", json={"merchant_uid": ["waiting"]})
    assert api.post("/subscribe/payments/schedule/waiting/reschedule",
                    json={"schedule_at": now - 1}).status_code == 400
    assert api.post("/subscribe/payments/schedule/waiting/reschedule",
                    json={"schedule_at": now + HOUR}).json()["code"] == 0


def test_retry_charges_a_revoked_or_failed_schedule_now(api, state, receiver, key):
    api.schedule(key, ("sub_1", state.now() + HOUR))
    api.post("/subscribe/payments/unschedule", json={"merchant_uid": ["sub_1"]})

    retried = api.post("/subscribe/payments/schedule/sub_1/retry")
    schedule = api.get("/subscribe/payments/schedule/sub_1").json()["response"]
    again = api.post("/subscribe/payments/schedule/sub_1/retry")
    state.run_due()

    payment = retried.json()["response"]
    assert (payment["status"], payment["customer_uid_usage"]) == ("paid", "payment.scheduled")
    assert (schedule["schedule_status"], schedule["payment_status"]) == ("executed", "paid")
    assert schedule["imp_uid"] == payment["imp_uid"]
    assert again.status_code == 400
    assert [c["json"]["status"] for c in receiver.calls] == ["paid"]
    assert api.post("/subscribe/payments/schedule/nope/retry").status_code == 404
