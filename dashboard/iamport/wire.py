"""The V1 API's wire format: path segments, request bodies, answers and transport failures.

Small pure helpers the client uses for every call; nothing here sends a request.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from urllib3.exceptions import NewConnectionError

from ..text import fit
from .errors import NotFound, Rejected
from .types import Page

T = TypeVar("T")

# Messages of 200-with-code-1 answers that mean "no such thing". Unknown billing keys answer
# this way on the live API although the schema documents a 404 for them.
_NOT_FOUND_MARKERS = (
    "찾을 수 없습니다",  # GET/DELETE /subscribe/customers/{uid}
    "존재하지 않는 결제정보",  # payment look-ups
    "등록되지 않은 구매자",  # again with an unknown customer_uid
    "취소할 결제건이 존재하지 않습니다",  # cancel of an unknown payment
    "등록된 고객정보가 없습니다",  # schedule on a customer_uid without a billing key
)


# Segments a URL resolver removes: requests turns %2E back into "." before sending, so
# no quoting can carry them, and "/subscribe/customers/.." would name another resource.
_DOT_SEGMENTS = (".", "..")


def segment(value: str) -> str:
    """Quote one path segment so an id can never change the path.

    An id that is a dot segment cannot be sent at all: it raises ``NotFound`` (nothing by
    that name can be reached at iamport, and nothing is sent).
    """
    text = str(value)
    if text in _DOT_SEGMENTS or not text:
        raise NotFound(code=None, message=f"{text!r} cannot name a resource in a URL path",
                       http_status=0)
    return quote(text, safe="")


# The schema's maxLength of the free-text fields we send about a buyer, an order or a card
# holder. iamport refuses a request with a longer value, so every one is fitted here.
FIELD_LIMITS = {
    "name": 40,
    "buyer_name": 16,
    "buyer_tel": 16,
    "buyer_email": 64,
    "customer_name": 20,
    "customer_tel": 20,
    "customer_email": 200,
}
# A cut address would be someone else's: an e-mail that does not fit is left out instead.
_WHOLE_OR_NOTHING = ("buyer_email", "customer_email")


def fitted(**fields: Any) -> dict[str, Any]:
    """Return ``fields`` without ``None`` values and with every text fitted to its limit."""
    body = {}
    for name, value in fields.items():
        limit = FIELD_LIMITS.get(name)
        if isinstance(value, str) and limit is not None and len(value) > limit:
            if name in _WHOLE_OR_NOTHING:
                continue
            value = fit(value, limit)
        if value is not None:
            body[name] = value
    return body


def without_none(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def whole_won(value: Any, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"amounts are integer KRW, got {type(value).__name__}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError("amount must be positive")
    return value


def custom_data_json(value: str | Mapping[str, Any] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def list_of(parse_item: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    def parse(data: Any) -> list[T]:
        if isinstance(data, dict) and isinstance(data.get("list"), list):
            data = data["list"]  # a paged object where an array was expected
        if not isinstance(data, list):
            raise TypeError("expected a list")
        return [parse_item(item) for item in data]

    return parse


def page_of(parse_item: Callable[[Any], T]) -> Callable[[Any], Page[T]]:
    return lambda data: Page.from_api(data, parse_item)


def json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def rejection(code: int, message: str | None, http_status: int, method: str,
               path: str) -> Rejected:
    kind = NotFound if any(marker in (message or "") for marker in _NOT_FOUND_MARKERS) else Rejected
    return kind(code=code, message=message, http_status=http_status, method=method, path=path)


def never_sent(exc: requests.RequestException) -> bool:
    """Tell whether a transport error proves the request never reached the server."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return isinstance(reason, NewConnectionError)
    return False


def describe(exc: requests.RequestException) -> str:
    # Class names only: the exceptions' own text can carry the full URL and query string.
    kind = "timeout" if isinstance(exc, requests.Timeout) else "connection failed"
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", None)
    cause = f", {type(reason).__name__}" if isinstance(reason, BaseException) else ""
    return f"{kind} ({type(exc).__name__}{cause})"
