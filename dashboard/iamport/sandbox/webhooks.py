"""Webhook delivery: the POST iamport makes to the merchant, and its resend policy.

A V1 webhook body is ``{imp_uid, merchant_uid, status}`` (plus ``cancellation_id`` for a
cancel), sent as JSON or form-encoded as configured, with no signature, once. With resends
switched on (the option merchants can ask PortOne for) a webhook whose receiver failed
(connection error, timeout, HTTP 5xx) is resent up to five times, one minute apart. Timeouts
follow PortOne's guide: connect 10 s / read 30 s on the first send, 15 s in total on a resend.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

import requests

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
CONTENT_TYPES = (JSON, FORM)

MAX_RESENDS = 5
RESEND_INTERVAL = 60  # sandbox seconds between attempts
FIRST_SEND_TIMEOUT = (10, 30)
RESEND_TIMEOUT = 15


@dataclass
class PendingWebhook:
    """A webhook waiting to be sent (first send or a resend)."""

    event_id: int
    url: str
    content_type: str
    payload: dict
    attempt: int
    due_at: int

    def to_dict(self) -> dict:
        """Return the fields for the state file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PendingWebhook:
        """Rebuild from the state file."""
        return cls(**data)

    def resend(self, sent_at: int) -> PendingWebhook | None:
        """Return the next attempt after a failure, or None when resends are exhausted."""
        if self.attempt > MAX_RESENDS:
            return None
        return PendingWebhook(self.event_id, self.url, self.content_type, self.payload,
                              self.attempt + 1, sent_at + RESEND_INTERVAL)


@dataclass
class Outcome:
    """What happened when a webhook was posted."""

    body: str
    response_status: int | None
    error: str | None

    @property
    def should_resend(self) -> bool:
        """Tell whether the receiver failed in a way iamport resends for."""
        return self.response_status is None or self.response_status >= 500


def encode(payload: dict, content_type: str) -> str:
    """Encode a webhook body as the configured content type."""
    if content_type == FORM:
        return urlencode(payload)
    return json.dumps(payload, ensure_ascii=False)


def post(session: requests.Session, webhook: PendingWebhook) -> Outcome:
    """POST one webhook through the session and report the outcome; never raises."""
    body = encode(webhook.payload, webhook.content_type)
    timeout = FIRST_SEND_TIMEOUT if webhook.attempt == 1 else RESEND_TIMEOUT
    try:
        response = session.post(webhook.url, data=body.encode("utf-8"), timeout=timeout,
                                headers={"Content-Type": webhook.content_type})
    except Exception as exc:  # noqa: BLE001 - unreachable or failing in process: resend it
        return Outcome(body, None, f"{type(exc).__name__}: {exc}")
    return Outcome(body, response.status_code, None)
