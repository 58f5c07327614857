"""Failures the emulated API reports, each carrying the HTTP status and envelope it answers with.

Conventions (reference §2.2):

- business refusals ("nothing to cancel", "unknown buyer", "already paid"): HTTP 200, code 1;
- card and PG failures: HTTP 200, code -1 (also ``again`` without ``name``, as on record);
- malformed requests (missing or invalid parameters): HTTP 400, code -1;
- operations the object's state forbids (changing an executed schedule): HTTP 400, code 1;
- look-ups of things that do not exist: HTTP 404, code 1 (but an unknown billing key on
  GET/DELETE ``/subscribe/customers/{uid}`` is HTTP 200, code 1, as the live API answered);
- authentication failures: HTTP 401, code -1.
"""

from __future__ import annotations


class ApiError(Exception):
    """A request the emulated API answers with a non-zero ``code``."""

    http_status = 200
    code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def envelope(self) -> dict:
        """Return the JSON body for this failure."""
        return {"code": self.code, "message": self.message, "response": None}


class Refused(ApiError):
    """A business rule refused the request (HTTP 200, code 1)."""


class PgFailed(ApiError):
    """The card company or PG refused the request (HTTP 200, code -1)."""

    code = -1


class BadRequest(ApiError):
    """A parameter is missing or malformed (HTTP 400)."""

    http_status = 400
    code = -1


class NotFound(ApiError):
    """The looked-up object does not exist (HTTP 404, code 1)."""

    http_status = 404


class Unauthorized(ApiError):
    """The access token or API credentials were not accepted (HTTP 401)."""

    http_status = 401
    code = -1

    def __init__(self, message: str = "Unauthorized"):
        super().__init__(message)


class NotAllowed(ApiError):
    """The object's current state does not allow the operation (HTTP 400, code 1)."""

    http_status = 400
