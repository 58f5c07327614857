"""Payment look-ups: by imp_uid, by merchant_uid, by status, by several ids."""

import pytest


@pytest.fixture
def payments(api, state):
    """Three attempts: order_1 failed then paid, order_2 paid; one second apart."""
    api.issue_key("cust_1")
    api.put("/_sandbox/customers/cust_1/behavior", json={"outcome": "decline"})
    failed = api.again("cust_1", "order_1").json()["response"]
    api.put("/_sandbox/customers/cust_1/behavior", json={"outcome": "approve"})
    state.advance(1)
    paid = api.again("cust_1", "order_1").json()["response"]
    state.advance(1)
    other = api.again("cust_1", "order_2").json()["response"]
    return failed, paid, other


def test_by_imp_uid_or_404(api, payments):
    _, paid, _ = payments

    assert api.get(f"/payments/{paid['imp_uid']}").json()["response"] == paid
    missing = api.get("/payments/imp_000000000000")
    assert missing.status_code == 404
    assert missing.json() == {"code": 1, "message": "존재하지 않는 결제정보입니다.",
                              "response": None}


def test_find_by_merchant_uid_returns_the_most_recent_or_by_status(api, payments):
    failed, paid, _ = payments

    assert api.get("/payments/find/order_1").json()["response"]["imp_uid"] == paid["imp_uid"]
    assert api.get("/payments/find/order_1/failed").json()["response"]["imp_uid"] == \
        failed["imp_uid"]
    oldest = api.get("/payments/find/order_1", params={"sorting": "started"}).json()
    assert oldest["response"]["imp_uid"] == failed["imp_uid"]
    assert api.get("/payments/find/order_1/cancelled").status_code == 404
    assert api.get("/payments/find/nope").status_code == 404
    assert api.get("/payments/find/order_1/bogus").status_code == 400


def test_find_all_pages_every_attempt(api, payments):
    failed, paid, _ = payments

    every = api.get("/payments/findAll/order_1").json()["response"]
    one = api.get("/payments/findAll/order_1/paid", params={"limit": 1}).json()["response"]

    assert [p["imp_uid"] for p in every["list"]] == [paid["imp_uid"], failed["imp_uid"]]
    assert (every["total"], every["previous"], every["next"]) == (2, 0, 0)
    assert (one["total"], [p["imp_uid"] for p in one["list"]]) == (1, [paid["imp_uid"]])
    assert api.get("/payments/findAll/nope").status_code == 404


def test_by_status_pages_within_a_time_window(api, state, payments):
    failed, paid, other = payments

    everything = api.get("/payments/status/all").json()["response"]
    paid_only = api.get("/payments/status/paid", params={"limit": 1, "page": 2}).json()
    failed_only = api.get("/payments/status/failed").json()["response"]
    early = api.get("/payments/status/all",
                    params={"from": failed["started_at"], "to": failed["started_at"]}).json()

    assert [p["imp_uid"] for p in everything["list"]] == [other["imp_uid"], paid["imp_uid"],
                                                          failed["imp_uid"]]
    assert paid_only["response"]["total"] == 2
    assert [p["imp_uid"] for p in paid_only["response"]["list"]] == [paid["imp_uid"]]
    assert (paid_only["response"]["previous"], paid_only["response"]["next"]) == (1, 0)
    assert [p["imp_uid"] for p in failed_only["list"]] == [failed["imp_uid"]]
    assert early["response"]["total"] == 1


def test_by_status_checks_its_parameters(api, state, payments):
    bad = api.get("/payments/status/done")
    assert bad.status_code == 400
    assert bad.json()["message"] == "지원되지 않는 상태값입니다."
    assert api.get("/payments/status/all", params={"limit": 1001}).status_code == 400
    assert api.get("/payments/status/all", params={"page": 0}).status_code == 400
    assert api.get("/payments/status/all", params={"sorting": "amount"}).status_code == 400
    too_long = {"from": state.now() - 91 * 86400, "to": state.now()}
    assert api.get("/payments/status/all", params=too_long).status_code == 400
    older = api.get("/payments/status/all", params={"to": state.now() - 86400}).json()
    assert older["response"]["total"] == 0


def test_several_by_imp_uid_and_merchant_uid(api, payments):
    failed, paid, other = payments

    both = api.get("/payments", params={"imp_uid[]": [failed["imp_uid"]],
                                        "merchant_uid[]": ["order_2"]})
    some = api.get("/payments", params={"imp_uid[]": [paid["imp_uid"], "imp_000000000000"]})
    none = api.get("/payments", params={"merchant_uid[]": ["nope"]})

    assert both.status_code == 200
    assert [p["imp_uid"] for p in both.json()["response"]] == [failed["imp_uid"],
                                                               other["imp_uid"]]
    assert some.status_code == 207
    assert [p["imp_uid"] for p in some.json()["response"]] == [paid["imp_uid"]]
    assert none.status_code == 404
    assert api.get("/payments").status_code == 400
