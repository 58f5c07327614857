"""Billing keys: key-in issuance, validation, look-ups, deletion, and the card data kept."""

from .conftest import DECLINED_CARD, GOOD_CARD


def test_issuing_keeps_only_masked_card_data_and_issuer_from_the_bin(api, state):
    customer = api.issue_key("cust_1", customer_email="hong@example.com")

    assert customer["customer_uid"] == "cust_1"
    assert customer["card_number"] == "557042******7221"
    assert (customer["card_code"], customer["card_name"]) == ("381", "KB국민카드")
    assert customer["card_type"] == 0
    assert (customer["pg_provider"], customer["pg_id"]) == ("kcp", "BA001")
    assert "sandbox" not in customer  # a live channel's key carries no test flag
    assert customer["customer_name"] == "홍길동"
    assert customer["customer_email"] == "hong@example.com"
    assert customer["customer_addr"] is None
    assert customer["inserted"] == customer["updated"] == state.now()


def test_issuing_accepts_a_form_body(api):
    response = api.post("/subscribe/customers/cust_form", data={
        "card_number": "5365-1234-5679-9012", "expiry": "2031-01", "birth": "900515",
        "pwd_2digit": "00", "pg": "kcp"})

    assert response.json()["code"] == 0
    assert response.json()["response"]["card_number"] == "536512******9012"


def test_bins_map_to_korean_card_companies(api):
    assert api.issue_key("shinhan", "4518-4212-3450-7890")["card_name"] == "신한카드"
    assert api.issue_key("woori", "5389-2012-3459-7890")["card_code"] == "041"
    check = api.issue_key("kb_check", "4579-7312-3458-7890")
    assert (check["card_name"], check["card_type"]) == ("KB국민카드", 1)


def test_malformed_card_data_is_refused_with_korean_pg_messages(api, state):
    cases = [
        ({"card_number": "1234"}, "유효하지않은 카드번호를 입력하셨습니다."),
        ({"card_number": "1234-1234-1234-1234"}, "유효하지않은 카드번호를 입력하셨습니다."),
        ({"card_number": "1111-1111-1111-1111"}, "유효하지않은 카드번호를 입력하셨습니다."),
        ({"expiry": "2020-01"},
         "카드정보 인증 및 빌키 발급에 실패하였습니다. [CC54] 카드유효기간만료 또는 불일치"),
        ({"expiry": "12/30"}, "카드정보 인증 및 빌키 발급에 실패하였습니다. [CC55] 유효기간 오류"),
        ({"birth": "991399"}, "카드정보 인증 및 빌키 발급에 실패하였습니다. [CC66] 주민번호 오류"),
        ({"birth": None}, "카드정보 인증 및 빌키 발급에 실패하였습니다. [CC66] 주민번호 오류"),
        ({"pwd_2digit": "1"}, "카드정보 인증 및 빌키 발급에 실패하였습니다. [CC63] 비밀번호 오류"),
    ]
    for change, message in cases:
        body = {"card_number": GOOD_CARD, "expiry": "2030-12", "birth": "880101",
                "pwd_2digit": "12", **change}
        body = {name: value for name, value in body.items() if value is not None}
        response = api.post("/subscribe/customers/bad", json=body)
        assert response.status_code == 200
        assert response.json() == {"code": -1, "message": message, "response": None}
    assert api.get("/subscribe/customers/bad").json()["code"] == 1  # nothing was stored
    assert state.summary()["customers"] == 0


def test_missing_required_card_fields_are_a_bad_request(api):
    no_number = api.post("/subscribe/customers/c", json={"expiry": "2030-12", "birth": "880101"})

    assert no_number.status_code == 400
    assert no_number.json()["message"] == "card_number 파라메터가 누락되었습니다."


def test_birth_is_optional_in_the_api_and_refused_by_kcp_with_code_minus_1(api, state):
    no_birth = api.post("/subscribe/customers/c", json={"card_number": GOOD_CARD,
                                                        "expiry": "2030-12"})

    assert no_birth.status_code == 200  # a PG refusal, not a malformed request
    assert no_birth.json()["code"] == -1
    assert "[CC66]" in no_birth.json()["message"]
    assert state.summary()["customers"] == 0
    corporate = api.issue_key("corp", birth="1234567890")  # a business number instead
    assert corporate["customer_uid"] == "corp"


def test_reissuing_replaces_the_card_and_keeps_the_first_issue_time(api, state):
    first = api.issue_key("cust_1")
    state.advance(3600)
    second = api.issue_key("cust_1", "5365-0000-1111-2222", customer_name=None)

    assert second["card_number"] == "536500******2222"
    assert second["inserted"] == first["inserted"]
    assert second["updated"] == first["updated"] + 3600
    assert second["customer_name"] == "홍길동"  # not sent again, so kept


def test_unknown_customer_uid_answers_200_code_1_as_the_live_api_did(api):
    looked_up = api.get("/subscribe/customers/nobody")
    deleted = api.delete("/subscribe/customers/nobody")

    expected = {"code": 1, "response": None,
                "message": "요청하신 customer_uid(nobody)로 등록된 정보를 찾을 수 없습니다."}
    assert (looked_up.status_code, looked_up.json()) == (200, expected)
    assert (deleted.status_code, deleted.json()) == (200, expected)


def test_several_keys_answer_200_207_or_404(api):
    api.issue_key("a")
    api.issue_key("b")

    everyone = api.get("/subscribe/customers", params={"customer_uid[]": ["a", "b"]})
    some = api.get("/subscribe/customers", params={"customer_uid[]": ["a", "zz"]})
    none = api.get("/subscribe/customers", params={"customer_uid[]": ["yy", "zz"]})

    assert everyone.status_code == 200
    assert [c["customer_uid"] for c in everyone.json()["response"]] == ["a", "b"]
    assert some.status_code == 207
    assert [c["customer_uid"] for c in some.json()["response"]] == ["a"]
    assert none.status_code == 404


def test_deleting_a_key_leaves_its_schedules_which_fail_when_they_run(api, state, receiver):
    api.issue_key("cust_1")
    api.schedule("cust_1", ("sub_1", state.now() + 3600))

    deleted = api.delete("/subscribe/customers/cust_1", params={"reason": "고객 요청"})
    pending = api.get("/subscribe/payments/schedule/sub_1").json()["response"]
    state.advance(3600)
    executed_merchant_uids = state.run_due()
    executed = api.get("/subscribe/payments/schedule/sub_1").json()["response"]
    payment = api.get(f"/payments/{executed['imp_uid']}").json()["response"]

    assert deleted.json()["response"]["customer_uid"] == "cust_1"
    assert api.get("/subscribe/customers/cust_1").json()["code"] == 1
    assert (pending["schedule_status"], pending["revoked_at"]) == ("scheduled", 0)
    assert executed_merchant_uids == ["sub_1"]
    assert (executed["schedule_status"], executed["payment_status"]) == ("executed", "failed")
    assert (payment["status"], payment["fail_reason"]) == ("failed", "등록되지 않은 구매자입니다.")
    assert [call["json"]["status"] for call in receiver.calls] == ["failed"]


def test_payments_of_a_key_are_paged_twenty_at_a_time_newest_first(api, state):
    api.issue_key("cust_1")
    for number in range(23):
        api.again("cust_1", f"order_{number:02d}")
        state.advance(1)

    first = api.get("/subscribe/customers/cust_1/payments").json()["response"]
    second = api.get("/subscribe/customers/cust_1/payments", params={"page": 2}).json()["response"]

    assert (first["total"], first["previous"], first["next"]) == (23, 0, 2)
    assert first["list"][0]["merchant_uid"] == "order_22"
    assert (second["previous"], second["next"], len(second["list"])) == (1, 0, 3)
    unknown = api.get("/subscribe/customers/other/payments")
    assert (unknown.status_code, unknown.json()["code"]) == (404, 1)


def test_a_trailing_slash_is_tolerated(api):
    api.issue_key("cust_1", DECLINED_CARD)

    assert api.get("/subscribe/customers/cust_1/").json()["response"]["card_number"].endswith(
        "0002")
