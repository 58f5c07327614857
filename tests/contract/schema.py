"""Check requests and responses against the committed subset of the official V1 schema.

``iamport-v1.subset.json`` beside this file is written by ``scripts/make_schema_subset.py``
from the schema PortOne publishes (``portone-mcp-server==0.12.1``). Import from tests as
``from tests.contract.schema import validate_response, request_parameter_names``.

Swagger 2.0 definitions are draft-4 JSON Schema plus ``x-`` keys. Where the schema cannot be
taken literally, this module decides, and these are the only exceptions (all applied in
``_adapt`` and ``_response_schema``):

1. **Failure envelopes.** A body whose ``code`` is not 0 is a failure whatever the HTTP status
   (reference §2.2: refusals are often HTTP 200); it must be ``{code, message, response:
   null}``. Statuses the schema lists without a body (401, 404, ...), and error statuses it
   does not list at all (the 400 the API answers for a missing parameter), get the same check.
2. **Nullable optional fields.** Swagger 2.0 cannot say ``null``; the live API sends ``null``
   for optional values that do not apply. A property not in its definition's ``required`` may
   therefore be ``null``.
3. **Paged schedule lists.** The schema says ``response`` is an array for
   ``GET /subscribe/payments/schedule``, ``/subscribe/customers/{customer_uid}/schedules`` and
   ``/subscribe/payments/schedule/customers/{customer_uid}``; every official SDK reads a paged
   ``{total, previous, next, list}`` object (reference §3.6, §5.4 CONFLICT), which is what the
   sandbox answers. Those three validate against the paged shape.
4. **Objects are objects.** Definitions list ``properties`` without ``"type": "object"``, which
   in JSON Schema would let ``null`` or a list through; a schema with properties is taken to
   describe an object.
5. **Alternative customer responses.** ``/subscribe/customers/{customer_uid}`` describes its
   200 body as an object whose properties are named after two definitions
   (``CustomerResponse``, ``SuperBillingKeyResponse``); read literally it would accept any
   body. It is read as "one of these".
6. **The prepared-payment object.** ``PaymentPrepareAnnotation`` lists ``merchant_uid``,
   ``amount`` and ``currency`` but requires ``total``, ``previous`` and ``next``, which it does
   not define (copied from the paged definitions). Its required fields are read as the
   registration's own: ``merchant_uid`` and ``amount`` (what the live API answers, reference
   "Live answers on record").

``strict=True`` (the default) also demands every property a definition lists, which is what
the sandbox promises; pass ``strict=False`` to check only types and required fields.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from jsonschema import Draft4Validator

SUBSET = Path(__file__).with_name("iamport-v1.subset.json")

PAGED_SCHEDULE_LISTS = {
    ("get", "/subscribe/payments/schedule"),
    ("get", "/subscribe/customers/{customer_uid}/schedules"),
    ("get", "/subscribe/payments/schedule/customers/{customer_uid}"),
}

FAILURE_ENVELOPE = {
    "type": "object",
    "required": ["code", "message", "response"],
    "properties": {
        "code": {"type": "integer", "not": {"enum": [0]}},
        "message": {"type": "string"},
        "response": {"type": "null"},
    },
}

SUCCESS_ENVELOPE = {
    "type": "object",
    "required": ["code", "message", "response"],
    "properties": {"code": {"enum": [0]}},
}


class SchemaMismatch(AssertionError):
    """A response or request does not match the official schema."""


@functools.cache
def load_subset() -> dict:
    """Return the committed schema subset."""
    return json.loads(SUBSET.read_text(encoding="utf-8"))


def _template_pattern(template: str) -> re.Pattern:
    parts = []
    for segment in template.strip("/").split("/"):
        parts.append("[^/]+" if segment.startswith("{") else re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


def _optional_tail(template: str, operation: dict) -> str | None:
    """Return the template without its last segment when that is an optional path parameter."""
    head, _, last = template.rpartition("/")
    if not (last.startswith("{") and last.endswith("}")):
        return None
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path" and parameter["name"] == last[1:-1]:
            return head if not parameter.get("required", False) else None
    return None


def resolve(method: str, path: str) -> tuple[str, dict]:
    """Return (template, operation) for a concrete path or a template, e.g. ``/payments/imp_1``."""
    method = method.lower()
    path = urlsplit(path).path.rstrip("/") or "/"
    candidates = []
    for template, operations in load_subset()["paths"].items():
        operation = operations.get(method)
        if operation is None:
            continue
        forms = [template]
        shorter = _optional_tail(template, operation)
        if shorter:
            forms.append(shorter)
        for form in forms:
            if path == form or _template_pattern(form).match(path):
                literal = sum(1 for s in form.split("/") if s and not s.startswith("{"))
                candidates.append((path == form, literal, template, operation))
    if not candidates:
        raise SchemaMismatch(f"{method.upper()} {path} is not in the schema subset")
    candidates.sort(key=lambda c: (c[0], c[1]), reverse=True)
    return candidates[0][2], candidates[0][3]


def _nullable_optionals(node, strict: bool):
    if isinstance(node, list):
        return [_nullable_optionals(item, strict) for item in node]
    if not isinstance(node, dict):
        return node
    adapted = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            adapted[key] = {name: _nullable_optionals(schema, strict)
                            for name, schema in value.items()}
        else:
            adapted[key] = _nullable_optionals(value, strict)
    properties = adapted.get("properties")
    if isinstance(properties, dict):
        required = set(node.get("required", []))
        adapted["properties"] = {
            name: schema if name in required else {"anyOf": [schema, {"type": "null"}]}
            for name, schema in properties.items()
        }
        if strict:
            adapted["required"] = sorted(properties)
    return adapted


def _typed_objects(node):
    if isinstance(node, list):
        return [_typed_objects(item) for item in node]
    if not isinstance(node, dict):
        return node
    typed = {key: (_typed_objects(value) if key != "properties" else
                   {name: _typed_objects(sub) for name, sub in value.items()})
             for key, value in node.items()}
    if isinstance(typed.get("properties"), dict) and "type" not in typed:
        typed["type"] = "object"
    return typed


@functools.cache
def _adapt(strict: bool) -> dict:
    """Return the definitions with exceptions 2, 3, 4 and 6 applied."""
    definitions = _typed_objects(copy.deepcopy(load_subset()["definitions"]))
    definitions["PaymentPrepareAnnotation"]["required"] = ["merchant_uid", "amount"]
    adapted = {}
    for name, schema in definitions.items():
        # Envelopes (*Response) keep "response" non-null: a success always carries one.
        adapted[name] = schema if name.endswith("Response") else _nullable_optionals(
            schema, strict)
    paged = copy.deepcopy(adapted["PagedPaymentAnnotation"])
    paged["properties"]["list"] = {"type": "array",
                                   "items": {"$ref": "#/definitions/ScheduleResultAnnotation"}}
    adapted["PagedScheduleAnnotation"] = paged
    adapted["PagedScheduleResponse"] = {"allOf": [
        {"$ref": "#/definitions/ResponseAnnotation"},
        {"properties": {"response": {"$ref": "#/definitions/PagedScheduleAnnotation"}}},
    ]}
    return adapted


def _alternatives(schema: dict) -> dict:
    """Apply exception 5: properties named after definitions mean "one of these"."""
    properties = schema.get("properties", {})
    refs = [value.get("$ref") if isinstance(value, dict) else None
            for value in properties.values()]
    if properties and all(ref == f"#/definitions/{name}" for name, ref in
                          zip(properties, refs, strict=True)):
        return {"anyOf": [{"$ref": ref} for ref in refs]}
    return schema


def _response_schema(method: str, template: str, operation: dict, status: int,
                     body) -> dict:
    if isinstance(body, dict) and body.get("code") != 0:
        return FAILURE_ENVELOPE
    responses = operation.get("responses", {})
    listed = responses.get(str(status))
    if listed is None:
        raise SchemaMismatch(f"{method.upper()} {template}: HTTP {status} with code 0 "
                             f"is not a response the schema lists ({sorted(responses)})")
    if (method, template) in PAGED_SCHEDULE_LISTS:
        schema = {"$ref": "#/definitions/PagedScheduleResponse"}
    elif "schema" in listed:
        schema = _alternatives(listed["schema"])
    else:
        raise SchemaMismatch(f"{method.upper()} {template}: HTTP {status} has no body schema "
                             "but the body says code 0")
    return {"allOf": [SUCCESS_ENVELOPE, schema]}


@functools.cache
def _validator(schema_json: str, strict: bool) -> Draft4Validator:
    document = json.loads(schema_json)
    document["definitions"] = _adapt(strict)
    Draft4Validator.check_schema(document)
    return Draft4Validator(document)


def validate_response(method: str, path: str, status_code: int, body, *,
                      strict: bool = True) -> None:
    """Raise SchemaMismatch unless the body is what the schema allows for this status."""
    method = method.lower()
    template, operation = resolve(method, path)
    if not isinstance(body, dict):
        raise SchemaMismatch(f"{method.upper()} {template}: body is not a JSON object: {body!r}")
    if body.get("code") != 0 and status_code < 400 and status_code not in (200, 207):
        raise SchemaMismatch(f"{method.upper()} {template}: failure with HTTP {status_code}")
    schema = _response_schema(method, template, operation, status_code, body)
    validator = _validator(json.dumps(schema, sort_keys=True), strict)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        details = "\n".join(f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: "
                            f"{e.message[:300]}" for e in errors[:10])
        raise SchemaMismatch(f"{method.upper()} {template} HTTP {status_code}:\n{details}")


def _names_in(schema: dict, prefix: str, definitions: dict) -> set[str]:
    """Return nested names like ``schedules[].amount`` for an object or array schema."""
    if "$ref" in schema:
        schema = definitions[schema["$ref"].removeprefix("#/definitions/")]
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return _names_in(schema["items"], prefix + "[]", definitions)
    names = set()
    for name, sub in schema.get("properties", {}).items():
        names.add(f"{prefix}.{name}")
        names |= _names_in(sub, f"{prefix}.{name}", definitions)
    return names


def request_parameter_names(method: str, path: str) -> set[str]:
    """Return the query and body parameter names the schema defines for an operation.

    Query names are as sent (``customer_uid[]``, ``schedule-status``); body names are
    top-level keys, with nested ones spelled ``schedules[].merchant_uid`` or
    ``extra.naverUseCfm`` (the notation of the sandbox's request log).
    """
    _, operation = resolve(method, path)
    definitions = load_subset()["definitions"]
    names: set[str] = set()
    for parameter in operation.get("parameters", []):
        where, name = parameter.get("in"), parameter["name"]
        if where == "path":
            continue
        if where == "body" and "schema" in parameter:
            body = parameter["schema"]
            if "$ref" in body:
                body = definitions[body["$ref"].removeprefix("#/definitions/")]
            for prop, sub in body.get("properties", {}).items():
                names.add(prop)
                names |= _names_in(sub, prop, definitions)
            continue
        names.add(name)
        names |= _names_in(parameter.get("schema", parameter), name, definitions)
    return names


_PARAMETER_KEYS = ("type", "maxLength", "minLength", "enum", "items", "maximum", "minimum",
                   "format")


def _parameter_schema(parameter: dict) -> dict:
    if "schema" in parameter and "type" not in parameter:
        return parameter["schema"]
    schema = {key: parameter[key] for key in _PARAMETER_KEYS if key in parameter}
    if schema.get("type") == "array" and "items" not in schema and "schema" in parameter:
        # A formData array written with ``schema`` for its items (unschedule's merchant_uid).
        schema["items"] = parameter["schema"]
    return schema


def validate_request(method: str, path: str, query: dict | None, body) -> None:
    """Raise SchemaMismatch unless a request's query and body are what the schema allows:
    required parameters present, types, and limits (``maxLength``, ``enum``) included.

    Query values arrive as text, so only their length and enum are checked; body values
    (``formData`` and ``body`` parameters, sent as JSON) are checked in full, nested objects
    (``schedules[]``) against their definitions.
    """
    method = method.lower()
    template, operation = resolve(method, path)
    body = body if body is not None else {}
    if not isinstance(body, dict):
        raise SchemaMismatch(f"{method.upper()} {template}: body is not a JSON object")
    properties, required = {}, []
    query_checks = {}
    for parameter in operation.get("parameters", []):
        where, name = parameter.get("in"), parameter["name"]
        if where == "body" and "schema" in parameter:
            # The whole body is one definition.
            properties = None
            body_schema = parameter["schema"]
            break
        if where in ("formData", "body"):
            properties[name] = _parameter_schema(parameter)
            if parameter.get("required"):
                required.append(name)
        elif where == "query":
            query_checks[name] = parameter
    else:
        body_schema = {"type": "object", "properties": properties, "required": required}
    for name, value in (query or {}).items():
        parameter = query_checks.get(name)
        if parameter is None:
            continue
        if "maxLength" in parameter and len(str(value)) > int(parameter["maxLength"]):
            raise SchemaMismatch(f"{method.upper()} {template}: query {name} is longer than "
                                 f"{parameter['maxLength']}")
        if "enum" in parameter and value not in parameter["enum"]:
            raise SchemaMismatch(f"{method.upper()} {template}: query {name}={value!r}")
    if not body_schema.get("required"):
        body_schema = {key: value for key, value in body_schema.items() if key != "required"}
    document = {"allOf": [body_schema]}
    document["definitions"] = _typed_objects(copy.deepcopy(load_subset()["definitions"]))
    errors = sorted(Draft4Validator(document).iter_errors(body),
                    key=lambda e: list(e.absolute_path))
    if errors:
        details = "\n".join(f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: "
                            f"{e.message[:300]}" for e in errors[:10])
        raise SchemaMismatch(f"{method.upper()} {template} request:\n{details}")
