"""The sandbox's small parts on their own: bracket parsing, coercion, cards, the adapter."""

import pytest
import requests
from flask import Flask, jsonify, make_response, request

from dashboard.iamport.sandbox import cards
from dashboard.iamport.sandbox.errors import BadRequest
from dashboard.iamport.sandbox.forms import as_amount, as_bool, as_int, as_list, nest
from dashboard.iamport.sandbox.wsgi_adapter import WSGIAdapter


def test_nest_reads_php_bracket_names():
    pairs = [("customer_uid", "c"), ("merchant_uid[]", "a"), ("merchant_uid[]", "b"),
             ("schedules[1][amount]", "2000"), ("schedules[0][amount]", "1000"),
             ("schedules[0][extra][naverUseCfm]", "20240101"), ("extra[requester]", "admin")]

    assert nest(pairs) == {
        "customer_uid": "c",
        "merchant_uid": ["a", "b"],
        "schedules": [{"amount": "1000", "extra": {"naverUseCfm": "20240101"}},
                      {"amount": "2000"}],
        "extra": {"requester": "admin"},
    }


def test_coercion_accepts_form_strings_and_names_the_bad_parameter():
    params = {"n": "15000", "f": 15000.0, "b": "false", "one": "x", "neg": "-1", "frac": "1.5"}

    assert as_int(params, "n") == 15000
    assert as_int(params, "f") == 15000
    assert as_bool(params, "b") is False
    assert as_list(params, "one") == ["x"]
    assert as_int(params, "missing", default=7) == 7
    for name, read in (("frac", as_int), ("one", as_int), ("neg", as_amount), ("one", as_bool)):
        with pytest.raises(BadRequest, match=name):
            read(params, name)


def test_card_inspection_masks_and_flags_the_declining_test_card():
    profile = cards.inspect_card("5570 4200 1237 0002", "2030-12", "880101", "12",
                                 now=1_700_000_000)

    assert profile.masked_number == "557042******0002"
    assert (profile.card_code, profile.card_name) == ("381", "KB국민카드")
    assert profile.declines is True
    unknown_bin = cards.inspect_card("1111-2222-3333-4444", "203012", "1234567890", None,
                                     now=1_700_000_000)
    assert unknown_bin.card_name in cards.ISSUERS.values()
    assert unknown_bin.declines is False


@pytest.fixture
def echo():
    app = Flask("echo")

    @app.route("/echo/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def echo_view(rest):
        response = make_response(jsonify(
            method=request.method, path=request.path, args=request.args.to_dict(flat=False),
            header=request.headers.get("X-Test"), body=request.get_data(as_text=True),
            content_type=request.mimetype, remote=request.remote_addr))
        response.set_cookie("session", "abc")
        return response

    session = requests.Session()
    adapter = WSGIAdapter(app)
    session.mount("https://echo.test", adapter)
    return session, adapter


def test_adapter_passes_method_path_query_headers_and_body(echo):
    session, _ = echo

    response = session.put("https://echo.test/echo/a%20b/주문?x=1&x=2",
                           data={"k": "값"}, headers={"X-Test": "yes"})

    assert response.status_code == 200
    assert response.json() == {
        "method": "PUT", "path": "/echo/a b/주문", "args": {"x": ["1", "2"]}, "header": "yes",
        "body": "k=%EA%B0%92", "content_type": "application/x-www-form-urlencoded",
        "remote": "127.0.0.1"}
    assert response.url.startswith("https://echo.test/echo/")
    assert session.cookies.get("session") == "abc"


def test_adapter_emulates_refused_connections(echo):
    session, adapter = echo
    adapter.refuse_connections = True

    with pytest.raises(requests.exceptions.ConnectionError):
        session.get("https://echo.test/echo/x")
