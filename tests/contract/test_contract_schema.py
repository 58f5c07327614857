"""The committed schema subset, the script that writes it, and the validator built on it."""

import importlib.util
import json
from pathlib import Path

import pytest

from tests.contract.schema import (
    SchemaMismatch,
    load_subset,
    request_parameter_names,
    resolve,
    validate_response,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_schema_subset.py"


def load_script():
    spec = importlib.util.spec_from_file_location("make_schema_subset", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def walk(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_subset_is_what_the_script_makes_of_it():
    script = load_script()
    subset = load_subset()

    assert script.subset(subset) == subset  # same paths, same definitions, already normalised
    assert subset["x-source"]["package"] == "portone-mcp-server==0.12.1"
    assert {path: sorted(ops) for path, ops in subset["paths"].items()} == {
        path: sorted(methods) for path, methods in script.USED.items()}


def test_subset_has_no_prose_and_every_reference_resolves():
    subset = load_subset()
    for node in walk(subset["paths"]):
        assert not {"description", "summary", "example"} & set(node)
        assert not any(key.startswith("x-portone-") for key in node)
    for node in walk(subset):
        if "$ref" in node:
            assert node["$ref"].removeprefix("#/definitions/") in subset["definitions"]
        for keyword in ("maxLength", "maximum", "minimum"):
            assert not isinstance(node.get(keyword), str)


def test_script_keeps_used_paths_and_transitive_definitions_only():
    script = load_script()
    full = {
        "swagger": "2.0", "info": {"title": "t", "version": "1", "description": "prose"},
        "host": "api.iamport.kr", "basePath": "/", "schemes": ["https"],
        "paths": {
            "/used": {"get": {"summary": "s", "parameters": [
                {"name": "limit", "in": "query", "type": "integer", "default": "20",
                 "maximum": "1000", "x-portone-name": "n"}],
                "responses": {"200": {"schema": {"$ref": "#/definitions/A"}}}},
                "post": {"responses": {}}},
            "/unused": {"get": {"responses": {"200": {"schema": {"$ref": "#/definitions/C"}}}}},
        },
        "definitions": {
            "A": {"description": "a", "properties": {"description": {"type": "string"},
                                                     "b": {"$ref": "#/definitions/B"}}},
            "B": {"properties": {"n": {"type": "string", "maxLength": "8"}}},
            "C": {"properties": {}},
        },
    }

    result = script.subset(full, {"/used": ["get"]})

    assert list(result["paths"]) == ["/used"] and list(result["paths"]["/used"]) == ["get"]
    assert sorted(result["definitions"]) == ["A", "B"]
    assert result["paths"]["/used"]["get"]["parameters"][0] == {
        "name": "limit", "in": "query", "type": "integer", "default": 20, "maximum": 1000}
    assert "description" in result["definitions"]["A"]["properties"]  # a property, kept
    assert "description" not in result["definitions"]["A"]
    assert result["definitions"]["B"]["properties"]["n"]["maxLength"] == 8


def test_resolve_concrete_paths_templates_and_optional_tails():
    assert resolve("GET", "/payments/imp_123")[0] == "/payments/{imp_uid}"
    assert resolve("GET", "/payments/find/m1")[0] == \
        "/payments/find/{merchant_uid}/{payment_status}"
    assert resolve("GET", "/payments/find/m1/paid/")[0] == \
        "/payments/find/{merchant_uid}/{payment_status}"
    assert resolve("GET", "/payments/status/paid?page=2")[0] == \
        "/payments/status/{payment_status}"
    assert resolve("GET", "/subscribe/payments/schedule/customers/c1")[0] == \
        "/subscribe/payments/schedule/customers/{customer_uid}"
    assert resolve("POST", "/payments/cancel")[0] == "/payments/cancel"
    assert resolve("GET", "/subscribe/customers/{customer_uid}")[0] == \
        "/subscribe/customers/{customer_uid}"
    assert resolve("GET", "/payments/prepare/m1")[0] == "/payments/prepare/{merchant_uid}"
    assert resolve("POST", "/payments/prepare")[0] == "/payments/prepare"
    with pytest.raises(SchemaMismatch):
        resolve("POST", "/subscribe/payments/foreign")


def payment(**changes):
    body = {
        "imp_uid": "imp_123456789012", "merchant_uid": "m", "pay_method": "card",
        "channel": "api", "pg_provider": "kcp", "emb_pg_provider": None, "pg_tid": None,
        "pg_id": "BA001", "escrow": False, "apply_num": None, "bank_code": None,
        "bank_name": None, "card_code": "381", "card_name": "KB국민카드",
        "card_issuer_code": None, "card_issuer_name": None, "card_publisher_code": None,
        "card_publisher_name": None, "card_quota": 0, "card_number": "557042******7221",
        "card_type": 0, "vbank_code": None, "vbank_name": None, "vbank_num": None,
        "vbank_holder": None, "vbank_date": 0, "vbank_issued_at": 0, "name": "n",
        "amount": 1000, "cancel_amount": 0, "currency": "KRW", "buyer_name": None,
        "buyer_email": None, "buyer_tel": None, "buyer_addr": None, "buyer_postcode": None,
        "custom_data": None, "user_agent": None, "status": "failed", "started_at": 1,
        "paid_at": 0, "failed_at": 1, "cancelled_at": 0, "fail_reason": "x",
        "cancel_reason": None, "receipt_url": None, "cancel_history": [],
        "cancel_receipt_urls": [], "cash_receipt_issued": False, "customer_uid": "c",
        "customer_uid_usage": "payment", "promotion": None,
    }
    body.update(changes)
    return {"code": 0, "message": None, "response": body}


def test_validate_response_accepts_a_complete_payment_and_rejects_bad_ones():
    validate_response("GET", "/payments/imp_1", 200, payment())

    broken = [
        payment(amount="1000"),  # wrong type
        payment(imp_uid=None),  # required, so not nullable
        payment(name="x" * 41),  # maxLength
    ]
    for body in broken:
        with pytest.raises(SchemaMismatch):
            validate_response("GET", "/payments/imp_1", 200, body)
    missing_field = payment()
    del missing_field["response"]["vbank_date"]
    validate_response("GET", "/payments/imp_1", 200, missing_field, strict=False)
    with pytest.raises(SchemaMismatch, match="vbank_date"):
        validate_response("GET", "/payments/imp_1", 200, missing_field)


def test_failure_envelopes_and_statuses():
    failure = {"code": 1, "message": "존재하지 않는 결제정보입니다.", "response": None}
    validate_response("GET", "/payments/imp_1", 404, failure)
    validate_response("POST", "/subscribe/payments/again", 200, failure)
    validate_response("POST", "/subscribe/payments/again", 400, {**failure, "code": -1})

    with pytest.raises(SchemaMismatch):
        validate_response("GET", "/payments/imp_1", 404, {**failure, "response": {}})
    with pytest.raises(SchemaMismatch):  # a success the schema does not list
        validate_response("GET", "/payments/imp_1", 201, payment())
    with pytest.raises(SchemaMismatch):  # a success must carry its object
        validate_response("GET", "/payments/imp_1", 200, {"code": 0, "message": None,
                                                          "response": None})


def test_documented_exceptions_paged_schedules_and_customer_alternatives():
    paged = {"code": 0, "message": None,
             "response": {"total": 0, "previous": 0, "next": 0, "list": []}}
    validate_response("GET", "/subscribe/payments/schedule", 200, paged)
    validate_response("GET", "/subscribe/customers/c/schedules", 200, paged)
    with pytest.raises(SchemaMismatch):
        validate_response("GET", "/subscribe/payments/schedule", 200,
                          {"code": 0, "message": None, "response": []})

    with pytest.raises(SchemaMismatch):  # read as "one of the two", so not anything goes
        validate_response("GET", "/subscribe/customers/c", 200,
                          {"code": 0, "message": None, "response": {"customer_uid": "c"}})


def test_documented_exception_the_prepared_payment_requires_its_own_fields():
    def prepared(**response):
        return {"code": 0, "message": None, "response": response}

    validate_response("POST", "/payments/prepare", 200,
                      prepared(merchant_uid="m", amount=1000, currency="KRW"))
    validate_response("GET", "/payments/prepare/m", 200,
                      prepared(merchant_uid="m", amount=1000, currency=None))
    with pytest.raises(SchemaMismatch):
        validate_response("GET", "/payments/prepare/m", 200, prepared(merchant_uid="m"))
    with pytest.raises(SchemaMismatch):  # what the schema's own "required" would demand
        validate_response("GET", "/payments/prepare/m", 200,
                          prepared(total=1, previous=0, next=0))


def test_request_parameter_names():
    again = request_parameter_names("POST", "/subscribe/payments/again")
    schedule = request_parameter_names("POST", "/subscribe/payments/schedule")

    assert {"customer_uid", "merchant_uid", "amount", "name", "notice_url"} <= again
    assert "extra.naverUseCfm" in again
    assert {"schedules", "schedules[].merchant_uid", "schedules[].schedule_at"} <= schedule
    assert request_parameter_names("GET", "/subscribe/customers") == {"customer_uid[]"}
    assert request_parameter_names("DELETE", "/subscribe/customers/c") == {"reason",
                                                                          "extra[requester]"}
    assert "schedule-status" in request_parameter_names("GET", "/subscribe/customers/c/schedules")
    assert "checksum" in request_parameter_names("POST", "/payments/cancel")


def test_subset_file_is_sorted_with_indent_one():
    text = (Path(__file__).parent / "iamport-v1.subset.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=1,
                              sort_keys=True) + "\n"
