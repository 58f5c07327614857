"""The emulated iamport V1 REST API: routes, the response envelope, parameters, auth and faults.

Every route parses its parameters into primitives and calls one ``SandboxState`` method; the
rules live there. Bodies may be JSON or form-encoded (bracket names such as
``schedules[0][amount]`` are nested first, see ``forms.nest``); a trailing slash is tolerated.
"""

from __future__ import annotations

import json
import time

from flask import Blueprint, Flask, current_app, g, jsonify, request
from werkzeug import exceptions as http
from werkzeug.http import HTTP_STATUS_CODES

from . import webhooks
from .channels import DEFAULT_CHANNELS
from .control import control
from .core import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, MAX_IDS, MAX_LIMIT, PAGE_SIZE, SORTINGS
from .errors import ApiError, BadRequest, NotFound, PgFailed, Unauthorized
from .forms import (
    as_amount,
    as_int,
    as_list,
    as_objects,
    as_text,
    nest,
    parameter_names,
    present,
)
from .keys import customer_not_found
from .records import BUYER_FIELDS, CUSTOMER_FIELDS, SCHEDULE_STATUSES
from .state import SandboxState

api = Blueprint("iamport_api", __name__)

EXTENSION = "iamport_sandbox"
HOLDER_LIMITS = {"customer_name": 20, "customer_tel": 20, "customer_email": 200,
                 "customer_addr": 200, "customer_postcode": 8}
BUYER_LIMITS = {"buyer_name": 16, "buyer_email": 64, "buyer_tel": 16, "buyer_addr": 128,
                "buyer_postcode": 8}
MISSING_CREDENTIALS = "imp_key, imp_secret 파라메터가 누락되었습니다."
MISSING_NAME = "name 파라메터가 누락되었습니다."
GATEWAY_PAGE = ("<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
                "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                "</body>\r\n</html>\r\n")


def sandbox() -> SandboxState:
    """Return the state of the sandbox serving this request."""
    return current_app.extensions[EXTENSION]


def ok(response, status: int = 200):
    """Answer with the success envelope."""
    return jsonify(code=0, message=None, response=response), status


# ------------------------------------------------------------------------ request handling

def _is_api_request() -> bool:
    return not request.path.startswith("/_sandbox")


def _access_tokens() -> list[str]:
    """Return the tokens a request carries in ``Authorization`` or ``X-ImpTokenHeader``."""
    # Authorization with or without "Bearer"; X-ImpTokenHeader is the alternative PortOne's V1
    # overview documents, and the only header iamport's Python client sent up to 0.8.x.
    tokens = []
    header = request.headers.get("Authorization", "").strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        tokens.append(rest.strip())
    elif header:
        tokens.append(header)
    if alternative := request.headers.get("X-ImpTokenHeader", "").strip():
        tokens.append(alternative)
    return tokens


def _body() -> dict:
    if request.is_json:
        if not request.get_data():
            return {}
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise BadRequest("요청 본문의 JSON 형식이 올바르지 않습니다.")
        return data
    return nest(request.form.items(multi=True))


def fault_response(status: int):
    """Answer an injected failure: a gateway page for 502/503/504, else a JSON envelope."""
    reason = HTTP_STATUS_CODES.get(status, "Error")
    if status in (502, 503, 504):
        page = GATEWAY_PAGE.format(status=status, reason=reason)
        return current_app.response_class(page, status=status, mimetype="text/html")
    body = {"code": -1, "message": reason, "response": None}
    return current_app.response_class(json.dumps(body), status=status,
                                      mimetype="application/json")


def before_api_request():
    """Log the call, apply an injected fault, parse parameters and check the access token."""
    if not _is_api_request():
        return None
    state = sandbox()
    g.call = {"time": state.now(), "method": request.method, "path": request.path,
              "query": sorted(request.args.keys()), "body": [], "status": None}
    g.fault = state.take_fault(request.method, request.path)
    if g.fault and not g.fault.after_commit:
        time.sleep(g.fault.delay)
        if g.fault.status:
            return fault_response(g.fault.status)
    g.query = nest(request.args.items(multi=True))
    g.params = _body()
    g.call["body"] = parameter_names(g.params)
    if request.endpoint != "iamport_api.get_token" and not any(
            state.token_is_valid(token) for token in _access_tokens()):
        raise Unauthorized()
    return None


def after_api_request(response):
    """Fail a committed operation when an after_commit fault asks for it, and log the call."""
    if not _is_api_request() or "call" not in g:
        return response
    fault = g.get("fault")
    if fault and fault.after_commit:
        time.sleep(fault.delay)
        if fault.status:
            response = fault_response(fault.status)
    g.call["status"] = response.status_code
    sandbox().record_request(g.call)
    return response


def api_error(error: ApiError):
    """Answer a refusal with its envelope and HTTP status."""
    return jsonify(error.envelope()), error.http_status


def http_error(error: http.HTTPException):
    """Answer routing errors (unknown path, wrong method) with the envelope too."""
    if not _is_api_request():
        return jsonify(error=error.description), error.code
    return jsonify(code=-1, message=error.name, response=None), error.code


# ------------------------------------------------------------------------------ parameters

def _page(params: dict) -> int:
    page = as_int(params, "page", default=1)
    if page < 1:
        raise BadRequest("page 파라메터는 1 이상이어야 합니다.")
    return page


def _limit(params: dict) -> int:
    limit = as_int(params, "limit", default=PAGE_SIZE)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit 파라메터는 1 이상 {MAX_LIMIT} 이하여야 합니다.")
    return limit


def _sorting(params: dict) -> str:
    sorting = params.get("sorting") or "-started"
    if sorting not in SORTINGS:
        raise BadRequest("sorting 파라메터가 올바르지 않습니다.")
    return sorting


def _schedule_status(value) -> str | None:
    if not present(value):
        return None
    if value not in SCHEDULE_STATUSES:
        raise BadRequest(f"지원되지 않는 예약상태입니다. ({value})")
    return value


def _positive_amount(params: dict, name: str = "amount") -> int:
    amount = as_amount(params, name, required=True)
    if amount <= 0:
        raise BadRequest(f"{name} 파라메터는 0보다 커야 합니다.")
    return amount


def _custom_data(params: dict) -> str | None:
    value = params.get("custom_data")
    if isinstance(value, (dict, list)):  # stored as the JSON string it would have been sent as
        return json.dumps(value, ensure_ascii=False)
    return as_text(params, "custom_data")


def _texts(params: dict, limits: dict) -> dict:
    return {name: as_text(params, name, max_length=limit) for name, limit in limits.items()}


def _payment_details(params: dict, *, name_required: bool = True) -> dict:
    """Read the order fields shared by ``again``, ``onetime`` and each schedule."""
    return {
        "name": as_text(params, "name", required=name_required, max_length=40),
        "currency": as_text(params, "currency") or "KRW",
        "custom_data": _custom_data(params),
        "notice_url": as_text(params, "notice_url"),
        **_texts(params, BUYER_LIMITS),
    }


def _customer_uid(value: str) -> str:
    if len(value) > 80:
        raise BadRequest("customer_uid 파라메터는 최대 80자까지 입력할 수 있습니다.")
    return value


# ---------------------------------------------------------------------------------- routes

@api.post("/users/getToken")
def get_token():
    """Issue the access token (the same one while it is valid)."""
    imp_key, imp_secret = g.params.get("imp_key"), g.params.get("imp_secret")
    if not present(imp_key) or not present(imp_secret):
        raise BadRequest(MISSING_CREDENTIALS)  # on record: not a 401
    return ok(sandbox().issue_token(str(imp_key), str(imp_secret)))


@api.post("/subscribe/customers/<customer_uid>")
def issue_billing_key(customer_uid):
    """Issue a billing key from key-in card data."""
    params = g.params
    card_number = as_text(params, "card_number", required=True)
    expiry = as_text(params, "expiry", required=True)
    customer = sandbox().issue_billing_key(
        _customer_uid(customer_uid),
        card_number=card_number,
        expiry=expiry,
        birth=as_text(params, "birth"),
        pwd_2digit=as_text(params, "pwd_2digit"),
        holder=_texts(params, HOLDER_LIMITS),
        customer_id=as_text(params, "customer_id"),
        pg=as_text(params, "pg", max_length=80),
    )
    return ok(customer)


@api.get("/subscribe/customers/<customer_uid>")
def get_billing_key(customer_uid):
    """Return one billing key."""
    return ok(sandbox().get_customer(customer_uid))


@api.delete("/subscribe/customers/<customer_uid>")
def delete_billing_key(customer_uid):
    """Delete a billing key (``reason`` is accepted in the query)."""
    as_text(g.query, "reason")
    return ok(sandbox().delete_customer(customer_uid))


@api.get("/subscribe/customers")
def get_billing_keys():
    """Return several billing keys: 200 all found, 207 some, 404 none."""
    customer_uids = as_list(g.query, "customer_uid")
    if not customer_uids:
        raise BadRequest("customer_uid[] 파라메터가 누락되었습니다.")
    found, missing = sandbox().get_customers(customer_uids)
    if not found:
        raise NotFound(customer_not_found(", ".join(missing)))
    return ok(found, 207 if missing else 200)


@api.get("/subscribe/customers/<customer_uid>/payments")
def billing_key_payments(customer_uid):
    """Return the payments made with a billing key, 20 per page."""
    return ok(sandbox().customer_payments(customer_uid, _page(g.query)))


@api.get("/subscribe/customers/<customer_uid>/schedules")
@api.get("/subscribe/payments/schedule/customers/<customer_uid>")
def billing_key_schedules(customer_uid):
    """Return a billing key's schedules in [from, to), newest first, 20 per page."""
    query = dict(g.query)
    # The schema names these from/to/schedule-status; one official SDK sends schedule_* names.
    for official, alias in (("from", "schedule_from"), ("to", "schedule_to"),
                            ("schedule-status", "schedule_status")):
        if not present(query.get(official)) and present(query.get(alias)):
            query[official] = query[alias]
    page = sandbox().list_schedules(
        schedule_from=as_int(query, "from", required=True),
        schedule_to=as_int(query, "to", required=True),
        customer_uid=customer_uid,
        status=_schedule_status(query.get("schedule-status")),
        page=_page(query),
    )
    return ok(page)


@api.post("/subscribe/payments/again")
def charge_again():
    """Charge a billing key now."""
    params = g.params
    customer_uid = as_text(params, "customer_uid", required=True, max_length=80)
    merchant_uid = as_text(params, "merchant_uid", required=True, max_length=40)
    amount = _positive_amount(params)
    details = _payment_details(params, name_required=False)
    if not details["name"]:
        # On record: HTTP 200 with code -1, before the key is even looked up.
        raise PgFailed(MISSING_NAME)
    details["card_quota"] = as_int(params, "card_quota", default=0)
    return ok(sandbox().charge_again(customer_uid, merchant_uid, amount, details))


@api.post("/subscribe/payments/onetime")
def charge_onetime():
    """Charge key-in card data, storing it as a billing key when customer_uid is given."""
    params = g.params
    merchant_uid = as_text(params, "merchant_uid", required=True, max_length=40)
    amount = _positive_amount(params)
    card = {
        "card_number": as_text(params, "card_number", required=True),
        "expiry": as_text(params, "expiry", required=True),
        "birth": as_text(params, "birth"),
        "pwd_2digit": as_text(params, "pwd_2digit"),
    }
    details = {**_payment_details(params, name_required=False),
               "card_quota": as_int(params, "card_quota", default=0)}
    # The key keeps the buyer's details as its holder's, as iamport documents.
    holder = {own: details[buyer] for buyer, own in
              zip(BUYER_FIELDS, CUSTOMER_FIELDS, strict=True)}
    payment = sandbox().charge_onetime(
        merchant_uid, amount, card, details,
        customer_uid=as_text(params, "customer_uid", max_length=80),
        holder=holder,
        pg=as_text(params, "pg", max_length=80),
    )
    return ok(payment)


def _schedule_item(item: dict, index: int) -> dict:
    try:
        return {
            "merchant_uid": as_text(item, "merchant_uid", required=True, max_length=40),
            "schedule_at": as_int(item, "schedule_at", required=True),
            "amount": _positive_amount(item),
            "promotion_id": as_text(item, "promotion_id"),
            **_payment_details(item),
        }
    except BadRequest as error:
        raise BadRequest(f"schedules[{index}]: {error.message}") from None


@api.post("/subscribe/payments/schedule")
def create_schedules():
    """Register scheduled payments (issuing the key first when card data comes with them)."""
    params = g.params
    customer_uid = as_text(params, "customer_uid", required=True, max_length=80)
    items = [_schedule_item(item, index)
             for index, item in enumerate(as_objects(params, "schedules"))]
    card = None
    if present(params.get("card_number")):
        card = {
            "card_number": as_text(params, "card_number"),
            "expiry": as_text(params, "expiry", required=True),
            "birth": as_text(params, "birth"),
            "pwd_2digit": as_text(params, "pwd_2digit"),
        }
    created = sandbox().create_schedules(customer_uid, items, card=card,
                                         customer_id=as_text(params, "customer_id"),
                                         pg=as_text(params, "pg", max_length=80))
    return ok(created)


@api.post("/subscribe/payments/unschedule")
def unschedule():
    """Revoke pending schedules by merchant_uid (list or one), or all of a customer_uid."""
    customer_uid = as_text(g.params, "customer_uid")
    merchant_uids = as_list(g.params, "merchant_uid")
    if not customer_uid and not merchant_uids:
        raise BadRequest("customer_uid 또는 merchant_uid 파라메터가 필요합니다.")
    return ok(sandbox().unschedule(customer_uid, merchant_uids))


@api.get("/subscribe/payments/schedule/<merchant_uid>")
def get_schedule(merchant_uid):
    """Return one schedule."""
    return ok(sandbox().get_schedule(merchant_uid))


@api.get("/subscribe/payments/schedule")
def list_schedules():
    """Return schedules in [schedule_from, schedule_to), paged, newest first by default."""
    query = g.query
    page = sandbox().list_schedules(
        schedule_from=as_int(query, "schedule_from", required=True),
        schedule_to=as_int(query, "schedule_to", required=True),
        status=_schedule_status(query.get("schedule_status")),
        page=_page(query),
        limit=_limit(query),
        oldest_first=query.get("sorting") == "scheduled",
    )
    return ok(page)


@api.put("/subscribe/payments/schedule/<merchant_uid>")
def change_schedule_time(merchant_uid):
    """Move a pending schedule to another time."""
    schedule_at = as_int(g.params, "schedule_at", required=True)
    return ok(sandbox().change_schedule_time(merchant_uid, schedule_at))


@api.post("/subscribe/payments/schedule/<merchant_uid>/reschedule")
def reschedule(merchant_uid):
    """Schedule a failed or revoked schedule again."""
    schedule_at = as_int(g.params, "schedule_at", required=True)
    return ok(sandbox().reschedule(merchant_uid, schedule_at))


@api.post("/subscribe/payments/schedule/<merchant_uid>/retry")
def retry_schedule(merchant_uid):
    """Charge a failed or revoked schedule now."""
    return ok(sandbox().retry_schedule(merchant_uid))


@api.get("/payments/<imp_uid>")
def get_payment(imp_uid):
    """Return one payment."""
    return ok(sandbox().get_payment(imp_uid))


@api.get("/payments/find/<merchant_uid>", defaults={"payment_status": None})
@api.get("/payments/find/<merchant_uid>/<payment_status>")
def find_payment(merchant_uid, payment_status):
    """Return the most recent payment with a merchant_uid (and status)."""
    return ok(sandbox().find_payment(merchant_uid, payment_status, _sorting(g.query)))


@api.get("/payments/findAll/<merchant_uid>", defaults={"payment_status": None})
@api.get("/payments/findAll/<merchant_uid>/<payment_status>")
def find_all_payments(merchant_uid, payment_status):
    """Return every payment with a merchant_uid (and status), paged."""
    query = g.query
    page = sandbox().find_all_payments(merchant_uid, payment_status, page=_page(query),
                                       limit=_limit(query), sorting=_sorting(query))
    return ok(page)


@api.get("/payments/status/<payment_status>")
def payments_by_status(payment_status):
    """Return payments by status within at most 90 days, paged."""
    query = g.query
    page = sandbox().payments_by_status(
        payment_status,
        page=_page(query),
        limit=_limit(query),
        time_from=as_int(query, "from"),
        time_to=as_int(query, "to"),
        sorting=_sorting(query),
    )
    return ok(page)


@api.get("/payments")
def payments_by_ids():
    """Return payments by imp_uid[] and merchant_uid[]: 200 all found, 207 some, 404 none."""
    imp_uids, merchant_uids = as_list(g.query, "imp_uid"), as_list(g.query, "merchant_uid")
    if not imp_uids and not merchant_uids:
        raise BadRequest("imp_uid[] 또는 merchant_uid[] 파라메터가 필요합니다.")
    if len(imp_uids) + len(merchant_uids) > MAX_IDS:
        raise BadRequest(f"한 번에 최대 {MAX_IDS}건까지 조회할 수 있습니다.")
    found, missing = sandbox().payments_by_ids(imp_uids, merchant_uids)
    if not found:
        raise NotFound("존재하지 않는 결제정보입니다.")
    return ok(found, 207 if missing else 200)


@api.post("/payments/cancel")
def cancel_payment():
    """Refund all (amount omitted or 0) or part of a payment."""
    params = g.params
    payment = sandbox().cancel_payment(
        imp_uid=as_text(params, "imp_uid"),
        merchant_uid=as_text(params, "merchant_uid"),
        amount=as_amount(params, "amount"),
        checksum=as_amount(params, "checksum"),
        reason=as_text(params, "reason", max_length=256),
    )
    return ok(payment)


@api.post("/payments/prepare")
def prepare_payment():
    """Register the amount a merchant_uid must be paid with."""
    params = g.params
    prepared = sandbox().prepare_payment(
        as_text(params, "merchant_uid", required=True, max_length=40),
        _positive_amount(params),
        as_text(params, "currency") or "KRW",
    )
    return ok(prepared)


@api.get("/payments/prepare/<merchant_uid>")
def get_prepared_payment(merchant_uid):
    """Return the amount registered for a merchant_uid."""
    return ok(sandbox().get_prepared(merchant_uid))


# ---------------------------------------------------------------------------------- factory

def create_sandbox_app(
    imp_key: str = DEFAULT_IMP_KEY,
    imp_secret: str = DEFAULT_IMP_SECRET,
    *,
    state_path=None,
    webhook_url: str | None = None,
    webhook_content_type: str = webhooks.JSON,
    webhook_session=None,
    webhook_resends: bool = False,
    start_runner: bool = False,
    runner_interval: float = 1.0,
    pg_provider: str = "kcp",
    pg_id: str = "BA001",
    pg_channels=DEFAULT_CHANNELS,
) -> Flask:
    """Build the sandbox Flask app; its state is ``app.extensions["iamport_sandbox"]``."""
    app = Flask(__name__)
    app.url_map.strict_slashes = False
    state = SandboxState(
        imp_key,
        imp_secret,
        state_path=state_path,
        webhook_url=webhook_url,
        webhook_content_type=webhook_content_type,
        webhook_session=webhook_session,
        webhook_resends=webhook_resends,
        pg_provider=pg_provider,
        pg_id=pg_id,
        pg_channels=pg_channels,
    )
    app.extensions[EXTENSION] = state
    app.before_request(before_api_request)
    app.after_request(after_api_request)
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(http.HTTPException, http_error)
    app.register_blueprint(api)
    app.register_blueprint(control)
    if start_runner:
        state.start_runner(runner_interval)
    return app
