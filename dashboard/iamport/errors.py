"""The small exception family raised by the iamport client.

Callers decide what to do from the class alone:

- ``Rejected`` (and ``NotFound``): the API answered and said no; nothing was done.
- ``Unavailable``: no usable answer to a call that is safe to repeat.
- ``OutcomeUnknown``: a money- or schedule-changing call was sent and its answer was lost;
  ask the API what happened before doing anything else.
- ``AuthenticationFailed``: the credentials are wrong (or the API keeps refusing our token).

Messages carry the method, the path and the API's own message, never a request body, a token
or a secret.
"""

from __future__ import annotations

import re

# Card-number-like digit runs (with or without separators) standing alone, so ids such as
# imp_123456789012 survive. The API does not echo card data in its messages as far as anyone
# knows; this is a second fence in case a PG message ever does.
_CARD_NUMBER = re.compile(r"(?<!\w)\d(?:[ -]?\d){11,18}(?!\w)")


def scrub(text: str | None) -> str | None:
    """Return text with anything shaped like a full card number masked."""
    if text is None:
        return None
    return _CARD_NUMBER.sub("[redacted]", text)


class IamportError(Exception):
    """Base class of every error the iamport client raises."""

    def __init__(self, detail: str, *, method: str | None = None, path: str | None = None):
        self.detail = scrub(detail) or ""
        self.method = method
        self.path = path
        super().__init__(self.detail)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        return f"{where}{self.detail}"


class AuthenticationFailed(IamportError):
    """The API refused our credentials or kept refusing a freshly issued token."""

    def __init__(self, *, method: str | None = None, path: str | None = None,
                 http_status: int | None = None):
        self.http_status = http_status
        super().__init__(f"authentication failed (HTTP {http_status})", method=method, path=path)


class CredentialsMissing(IamportError):
    """The client has no ``imp_key`` or no ``imp_secret`` configured (``which`` says)."""

    def __init__(self, which: str):
        self.which = which
        super().__init__(f"{which} is not configured")


class Rejected(IamportError):
    """The API answered with a refusal; the request was definitely not carried out."""

    def __init__(self, *, code: int | None, message: str | None, http_status: int,
                 method: str | None = None, path: str | None = None):
        self.code = code
        self.message = scrub(message)
        self.http_status = http_status
        text = self.message or "rejected"
        super().__init__(f"{text} (code {code}, HTTP {http_status})", method=method, path=path)


class NotFound(Rejected):
    """The payment, billing key or schedule named in the request does not exist."""


class Unavailable(IamportError):
    """No usable answer (connection error, timeout, 5xx) to a call that is safe to repeat."""

    def __init__(self, reason: str, *, method: str | None = None, path: str | None = None,
                 http_status: int | None = None):
        self.reason = reason
        self.http_status = http_status
        super().__init__(reason, method=method, path=path)


class OutcomeUnknown(Unavailable):
    """A money- or schedule-changing call was sent and its answer was lost; never retried."""
