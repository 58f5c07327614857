"""The provider boundary: a client for the iamport / PortOne V1 REST API."""

from .client import IamportClient
from .errors import (
    AuthenticationFailed,
    IamportError,
    NotFound,
    OutcomeUnknown,
    Rejected,
    Unavailable,
)
from .types import BillingKey, CancelEntry, Page, Payment, Schedule, ScheduleRequest

__all__ = [
    "AuthenticationFailed",
    "BillingKey",
    "CancelEntry",
    "IamportClient",
    "IamportError",
    "NotFound",
    "OutcomeUnknown",
    "Page",
    "Payment",
    "Rejected",
    "Schedule",
    "ScheduleRequest",
    "Unavailable",
]
