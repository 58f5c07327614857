"""PG channels: ``pg`` selects the channel a key (and its payments) is made on."""

import pytest

from dashboard.iamport.sandbox import channels

from .conftest import API

DEFAULT = channels.Channel("kcp", "BA001")


def test_a_site_code_selects_the_channel_and_the_key_keeps_it(api, state):
    key = api.issue_key("cust_1", pg="kcp.IP0AB")
    payment = api.again("cust_1", "order_1").json()["response"]
    api.schedule("cust_1", ("sub_1", state.now() + 60))
    schedule = api.get("/subscribe/payments/schedule/sub_1").json()["response"]

    assert (key["pg_provider"], key["pg_id"]) == ("kcp", "IP0AB")
    assert (payment["pg_provider"], payment["pg_id"]) == ("kcp", "IP0AB")
    assert (schedule["pg_provider"], schedule["pg_id"]) == ("kcp", "IP0AB")


def test_the_dashboards_channels_are_accepted_by_default(api):
    assert api.issue_key("a", pg="kcp")["pg_provider"] == "kcp"
    assert api.issue_key("b", pg="kcp_billing")["pg_provider"] == "kcp_billing"
    assert api.issue_key("c")["pg_provider"] == "kcp"  # no pg: the default channel


def test_an_unknown_channel_is_refused_and_nothing_stored(api, state):
    body = {"card_number": "5570-4200-0007-7221", "expiry": "2030-12", "birth": "880101",
            "pg": "nice"}

    refused = api.post("/subscribe/customers/cust_1", json=body)
    onetime = api.post("/subscribe/payments/onetime",
                       json={**body, "merchant_uid": "o1", "amount": 1000})

    for answer in (refused, onetime):
        assert answer.status_code == 200
        assert answer.json() == {"code": -1, "response": None,
                                 "message": "요청하신 PG(nice)의 설정정보를 찾을 수 없습니다."}
    assert state.summary()["customers"] == 0 and state.summary()["payments"] == {}


def test_the_control_api_configures_the_channels(api, session):
    configured = session.put(f"{API}/_sandbox/channels", json={"channels": ["kcp.T0001"]})

    assert configured.json() == {"channels": ["kcp.T0001"]}
    assert session.get(f"{API}/_sandbox/channels").json() == {"channels": ["kcp.T0001"]}
    assert api.issue_key("a", pg="kcp")["pg_id"] == "T0001"  # the PG's one site code
    assert api.post("/subscribe/customers/b", json={
        "card_number": "5570-4200-0007-7221", "expiry": "2030-12", "birth": "880101",
        "pg": "kcp.OTHER"}).json()["code"] == -1
    assert api.post("/subscribe/customers/c", json={
        "card_number": "5570-4200-0007-7221", "expiry": "2030-12", "birth": "880101",
        "pg": "kcp_billing"}).json()["code"] == -1
    assert session.put(f"{API}/_sandbox/channels", json={"channels": []}).status_code == 400
    assert session.put(f"{API}/_sandbox/channels",
                       json={"channels": ["kcp."]}).status_code == 400


@pytest.mark.parametrize(("pg", "names", "expected"), [
    (None, ["kcp"], DEFAULT),
    ("kcp", ["kcp"], DEFAULT),
    ("kcp.X1", ["kcp.*"], channels.Channel("kcp", "X1")),
    ("kcp.X1", ["kcp.X1"], channels.Channel("kcp", "X1")),
    ("kcp_billing.B2", ["kcp_billing.*"], channels.Channel("kcp_billing", "B2")),
    ("kcp", ["kcp.A", "kcp.B"], channels.Channel("kcp", "A")),
    ("kcp", ["kcp.*"], DEFAULT),
])
def test_resolve(pg, names, expected):
    assert channels.resolve(pg, names, DEFAULT) == expected


@pytest.mark.parametrize(("pg", "names"), [
    ("nice", ["kcp", "kcp.*"]),
    ("kcp.X1", ["kcp", "kcp.X2"]),
    ("kcp.", ["kcp.*"]),
    ("kcp_billing", ["kcp", "kcp.*"]),
])
def test_resolve_refuses(pg, names):
    with pytest.raises(channels.UnknownChannel):
        channels.resolve(pg, names, DEFAULT)
