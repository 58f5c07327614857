"""The setup page's services: the iamport connection test and the NHN KCP go-live checklist.

Public functions own their transaction, like the billing services.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .billing import audit
from .clock import utcnow
from .extensions import db
from .formatting import lazy_gettext as _l
from .iamport import errors as iamport_errors
from .models import GoLiveStep


@dataclass(frozen=True)
class Step:
    """One step of going live with NHN KCP recurring billing through iamport."""

    key: str
    title: object
    how: object


# In the order NHN KCP's recurring-billing (정기결제) setup through iamport asks for them.
GO_LIVE_STEPS = (
    Step("pg_setting", _l("PG setting saved in PortOne's console"),
         _l("In PortOne's console, add the PG setting \"NHN KCP / NHN KCP API\" with the live "
            "site code (사이트코드) and site key (사이트키) from KCP.")),
    Step("batch_group_id", _l("배치결제그룹아이디 issued and entered"),
         _l("In KCP's merchant admin, sign in with the KCP private certificate, issue the "
            "배치결제그룹아이디 (batch payment group id) and enter it in the PG setting.")),
    Step("webhook", _l("Webhook URL set and a test webhook received"),
         _l("Paste the webhook URL below into PortOne's console (결제알림 URL) and send a "
            "test notification: this page shows when one arrives.")),
    Step("test_mode_off", _l("Test mode off"),
         _l("Turn test mode off for the KCP PG setting in PortOne's console.")),
    Step("card_review", _l("카드사 심사 requested"),
         _l("In KCP's merchant admin, request the card companies' review (카드사 심사) for "
            "recurring billing; live cards are refused until it is approved.")),
    Step("first_live_charge", _l("First live charge and refund made"),
         _l("Charge a real card a small amount from a customer page, then refund it in "
            "full; both appear in the payments list.")),
)
STEP_KEYS = tuple(step.key for step in GO_LIVE_STEPS)

# What the connection test found.
CONNECTION_OK = "ok"
MISSING_KEY = "missing_key"
MISSING_SECRET = "missing_secret"
REFUSED = "refused"
UNREACHABLE = "unreachable"


class UnknownStep(Exception):
    """No go-live step has this key."""


def test_connection(*, actor: audit.Actor) -> str:
    """Ask iamport for a token with the configured key and secret; audit and return the result.

    iamport answers a wrong key and a wrong secret the same way (401), so ``refused`` covers
    both; a missing key or secret is caught here before asking.
    """
    config = current_app.config
    try:
        current_app.extensions["iamport"].check_credentials()
        result = CONNECTION_OK
    except iamport_errors.CredentialsMissing as missing:
        result = MISSING_KEY if missing.which == "imp_key" else MISSING_SECRET
    except iamport_errors.AuthenticationFailed:
        result = REFUSED
    except iamport_errors.IamportError:
        result = UNREACHABLE
    audit.record("setup.connection_test", "setup", "iamport", actor=actor,
                 outcome="ok" if result == CONNECTION_OK else "failed",
                 details={"result": result, "api_url": config["IAMPORT_API_URL"]})
    db.session.commit()
    return result


def mark_step(key: str, done: bool, *, actor: audit.Actor, note: str | None = None) -> None:
    """Mark a go-live step done (by whom, when) or not done, and commit."""
    if key not in STEP_KEYS:
        raise UnknownStep(key)
    row = db.session.get(GoLiveStep, key)
    before = {"done": row is not None}
    if done and row is None:
        db.session.add(GoLiveStep(key=key, done_at=utcnow(), done_by_id=actor.user_id,
                                  note=note))
    elif not done and row is not None:
        db.session.delete(row)
    else:
        return
    audit.record("setup.step_done" if done else "setup.step_undone", "go_live_step", key,
                 actor=actor, reason=note, details={"before": before, "after": {"done": done}})
    db.session.commit()
