"""How money, times and languages look on the console.

Money is integer KRW shown as ``₩9,900``. Times are stored in UTC and shown in
``DISPLAY_TIMEZONE`` (Asia/Seoul by default) with the zone named: ``2026-11-27 13:05 KST``.
Times typed into forms are read in the same zone and handed to billing as aware UTC.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache, partial
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, request
from flask.globals import _cv_request
from flask_babel import get_locale, get_translations, gettext
from flask_babel.speaklater import LazyString
from flask_login import current_user
from markupsafe import Markup, escape

from . import particles
from .clock import now

LANGUAGE_COOKIE = "lang"
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600


def once_per_request(name: str, compute):
    """Return ``compute()``, computed once per request and kept on the request object (as
    Flask-Babel keeps its own), never on ``g``, which tests share across requests."""
    # The request context straight from Flask's context variable: a page asks a few hundred
    # times, and each pass through the ``request`` proxy costs more than the lookup itself.
    context = _cv_request.get(None)
    if context is None:
        return compute()
    value = getattr(context.request, name, None)
    if value is None:
        value = compute()
        setattr(context.request, name, value)
    return value


def page_translations():
    """Return the request's translations: Flask-Babel walks its contexts on every lookup, and
    a page asks for a few hundred strings."""
    return once_per_request("page_translations", get_translations)


def page_gettext(string: str, **variables) -> str:
    """Return ``flask_babel.gettext(string, **variables)`` through the request's translations."""
    translated = page_translations().ugettext(string)
    return translated % variables if variables else translated


def lazy_gettext(string: str, **variables) -> LazyString:
    """Return ``flask_babel.lazy_gettext``'s lazy string, translated by ``page_gettext``:
    labels, choices and messages are lazy, and a list page shows a few dozen."""
    return LazyString(page_gettext, string, **variables)


_l = lazy_gettext


def page_locale() -> str:
    """Return the request's locale name (labels are cached per locale)."""
    return once_per_request("page_locale", lambda: str(get_locale() or ""))


def display_zone() -> ZoneInfo:
    """Return the time zone times are shown and typed in (a list page shows a hundred times)."""
    return once_per_request("display_zone", configured_zone)


def zone_label(zone: ZoneInfo) -> str:
    """Return how a column of times names its zone: the zone's abbreviation when it keeps one
    all year (``KST``), else its name (``America/New_York``: its times are EST and EDT)."""
    year = now().year
    names = {datetime(year, month, 1, tzinfo=UTC).astimezone(zone).tzname() for month in (1, 7)}
    return names.pop() if len(names) == 1 else zone.key


def configured_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("DISPLAY_TIMEZONE") or "Asia/Seoul")


def won(amount: int | None) -> str:
    """Format an integer amount of won: ``₩9,900``, ``-₩1,000``."""
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}₩{abs(int(amount)):,}"


def to_local(moment: datetime) -> datetime:
    """Return an aware datetime in the display time zone."""
    return moment.astimezone(display_zone())


def local_time(moment: datetime | None, with_seconds: bool = False,
               zone: ZoneInfo | None = None) -> str:
    """Format a time in the display zone (or ``zone``) with its abbreviation:
    ``2026-11-27 13:05 KST``."""
    if moment is None:
        return ""
    local = moment.astimezone(zone or display_zone())
    # isoformat is C and several times faster than strftime: "2026-11-27 13:05[:09]+09:00".
    shown = local.isoformat(" ", "seconds")[:19] if with_seconds else local.isoformat(
        " ", "minutes")[:16]
    return f"{shown} {local.tzname()}"


def anchor_in_zone(anchor: datetime | None) -> datetime | None:
    """Return a stored billing anchor (a naive local wall-clock time) in the display zone."""
    return anchor.replace(tzinfo=display_zone()) if anchor is not None else None


def billing_anchor(anchor: datetime | None) -> str:
    """Format a billing anchor: ``2026-01-31 00:30 KST``."""
    return local_time(anchor_in_zone(anchor))


def local_date(moment: datetime | None, zone: ZoneInfo | None = None) -> str:
    """Format the calendar day of a time in the display zone (or ``zone``): ``2026-11-27``."""
    if moment is None:
        return ""
    return moment.astimezone(zone or display_zone()).date().isoformat()


def iso_local(moment: datetime | None) -> str:
    """Format a time as ISO 8601 in the display zone: ``2026-11-27T13:05:00+09:00``."""
    if moment is None:
        return ""
    return to_local(moment).isoformat(timespec="seconds")


def csv_time_in(zone: ZoneInfo):
    """Return a formatter of times for CSV in ``zone``, as spreadsheets read dates
    (``2026-11-27 13:05``). Bound to the zone: an export formats every row's times in one
    zone, and looking the zone up per call cost a third of the export's time."""

    def csv_time(moment: datetime | None) -> str:
        # isoformat is C and much faster than strftime; "2026-11-27 13:05" is its first 16.
        return "" if moment is None else moment.astimezone(zone).isoformat(" ", "minutes")[:16]

    return csv_time


def csv_minutes_of_stored(zone: ZoneInfo):
    """Return a formatter, as ``csv_time_in(zone)`` writes times, of times read as SQLite
    stores them: naive UTC text (``2026-11-27 04:05:09.123456``)."""
    return partial(_stored_minute_in_zone, zone=zone.key)


def _stored_minute_in_zone(stored: str | None, zone: str) -> str | None:
    # Most hours of most zones are a whole number of hours away from UTC for the whole hour:
    # their minutes keep their digits, and one conversion per hour serves every time in it
    # (an export's rows each held a new minute, and converting each was most of the row).
    if stored is None:
        return None
    local_hour = _local_hour(stored[:13], zone)
    if local_hour is None:
        return _local_minute(stored[:16], zone)
    return local_hour + stored[13:16]


@lru_cache(maxsize=4096)
def _local_hour(utc_hour: str, zone: str) -> str | None:
    """Return ``2026-11-27 13`` for the UTC hour ``2026-11-27 04``, or None when the zone's
    offset is not whole hours or changes within that hour (then each minute is converted)."""
    local = ZoneInfo(zone)
    start = datetime.fromisoformat(utc_hour + ":00").replace(tzinfo=UTC)
    offset = start.astimezone(local).utcoffset()
    end_offset = (start + timedelta(minutes=59)).astimezone(local).utcoffset()
    if offset != end_offset or offset % timedelta(hours=1):
        return None
    return csv_time_in(local)(start)[:13]


@lru_cache(maxsize=4096)
def _local_minute(utc_minute: str, zone: str) -> str:
    return csv_time_in(ZoneInfo(zone))(datetime.fromisoformat(utc_minute).replace(tzinfo=UTC))


def iso_local_in(zone: ZoneInfo):
    """Return ``iso_local`` bound to ``zone`` (exports format many times in one zone)."""

    def iso(moment: datetime | None) -> str:
        return "" if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")

    return iso


def datetime_input_value(moment: datetime | None) -> str:
    """Format a time for an ``<input type="datetime-local">`` in the display zone."""
    if moment is None:
        return ""
    return to_local(moment).strftime("%Y-%m-%dT%H:%M")


def from_local(naive: datetime) -> datetime:
    """Read a wall-clock time typed in the display zone and return it as aware UTC."""
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=display_zone()).astimezone(UTC)


def day_start(day: date) -> datetime:
    """Return the first instant of ``day`` in the display zone, as aware UTC."""
    try:
        return from_local(datetime.combine(day, time.min))
    except OverflowError:  # year 1 or 9999 moved into UTC: clamp, a filter must not fail
        return (datetime.min if day.year == 1 else datetime.max).replace(tzinfo=UTC)


def day_end(day: date) -> datetime:
    """Return the first instant after ``day`` in the display zone, as aware UTC."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return day_start(day + timedelta(days=1))


def utc_offset_modifier(moment: datetime | None = None) -> str:
    """Return SQLite's modifier (``'+540 minutes'``) for the display zone's offset at ``moment``."""
    moment = moment or datetime.now(UTC)
    offset = to_local(moment).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes:+d} minutes"


def supported_languages() -> list[str]:
    """Return the language codes the console is translated into."""
    return list(current_app.config.get("LANGUAGES") or ["ko", "en"])


def select_locale() -> str:
    """Choose the language: the cookie, then the signed-in user's choice, then Korean."""
    languages = supported_languages()
    default = current_app.config.get("BABEL_DEFAULT_LOCALE", "ko")
    if not has_request_context():
        return default
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in languages:
        return chosen
    user_choice = getattr(current_user, "locale", None) if current_user else None
    if user_choice in languages:
        return user_choice
    return default


# --- labels for stored codes ------------------------------------------------------------

SUBSCRIPTION_STATUS_LABELS = {
    "active": _l("Active"),
    "past_due": _l("Past due"),
    "paused": _l("Paused"),
    "cancelled": _l("Cancelled"),
}
PAYMENT_STATUS_LABELS = {
    "pending": _l("Outcome unknown"),
    "paid": _l("Paid"),
    "failed": _l("Failed"),
    "cancelled": _l("Refunded"),
    "partially_refunded": _l("Partially refunded"),
}
# A refunded payment's badge says how much of it went back.
PAYMENT_REFUND_BADGE_LABELS = {
    "cancelled": _l("Fully refunded"),
    "partially_refunded": _l("Partially refunded"),
}
PAYMENT_ORIGIN_LABELS = {
    "schedule": _l("Scheduled payment"),
    "again": _l("Recurring (again)"),
    "manual": _l("Manual charge"),
}
SCHEDULE_FILTER_LABELS = {
    "scheduled": _l("Scheduled"),
    "paid": _l("Paid"),
    "failed": _l("Failed"),
    "revoked": _l("Revoked"),
}
WEBHOOK_STATE_LABELS = {
    "received": _l("Received"),
    "processed": _l("Processed"),
    # What failed is our processing, not a payment: never "payment failed".
    "failed": _l("Processing failed"),
    "ignored": _l("Ignored"),
}
# The payment status a webhook reports (iamport's words).
WEBHOOK_STATUS_LABELS = {
    "ready": _l("Awaiting payment"),
    "paid": _l("Paid"),
    "failed": _l("Payment failed"),
    "cancelled": _l("Refunded"),
}
# Who acted, when it was not a staff member.
ACTOR_LABELS = {
    "system": _l("System"),
    "cli": _l("Command line"),
    "webhook": _l("Webhook"),
}
# Why a webhook request was refused (counted, never stored).
WEBHOOK_REFUSAL_LABELS = {
    "token": _l("wrong or missing token"),
    "address": _l("sender address not allowed"),
    "too_large": _l("body over 64 KiB"),
}


SCHEDULE_STATUS_LABELS = {
    "scheduled": _l("Scheduled"),
    "executed": _l("Executed"),
    "revoked": _l("Revoked"),
}
REFUND_STATUS_LABELS = {
    "pending": _l("Outcome unknown"),
    "succeeded": _l("Refunded"),
    "partially_refunded": _l("Partially refunded"),
    "rejected": _l("Rejected"),
}
BILLING_KEY_LABELS = {
    "active": _l("Billing key active"),
    "deleted": _l("Billing key deleted"),
    "missing": _l("No billing key"),
}
ROLE_LABELS = {
    "viewer": _l("Viewer"),
    "support": _l("Support"),
    "admin": _l("Administrator"),
}
SCHEDULE_RESULT_LABELS = {
    **SCHEDULE_FILTER_LABELS,
    "cancelled": _l("Refunded"),
    "partially_refunded": _l("Partially refunded"),
}
OUTCOME_LABELS = {
    "ok": _l("Done"),
    "refused": _l("Refused"),
    "locked": _l("Locked"),
    "rejected": _l("Rejected"),
    "unknown": _l("Outcome unknown"),
    "unavailable": _l("Unreachable"),
    "requested": _l("Awaiting the answer"),
    "attention": _l("Needs attention"),
    "failed": _l("Not completed"),
    "errors": _l("Finished with errors"),
    "interrupted": _l("Interrupted"),
    "throttled": _l("Throttled"),
}
# Why a subscription needs attention (``attention.subscription_attention``).
ATTENTION_LABELS = {
    "billing_key_missing": _l("The billing key is gone: register a card"),
    "not_scheduled": _l("Nothing will charge it next: sync after fixing the cause"),
    "charge_outcome_unknown": _l("A charge has an unknown outcome: run sync"),
}
# What each audited action is called on the customer's timeline; the audit log offers these
# as its action filter's choices. Every action the console records has one.
ACTION_LABELS = {
    "charge.duplicate_period": _l("Duplicate charge found"),
    "charge.manual": _l("Manual charge"),
    "charge.retry_now": _l("Charge retried now"),
    "customer.billing_key.delete": _l("Billing key deleted"),
    "customer.billing_key.register": _l("Billing key registered"),
    "customer.billing_key.replace": _l("Card replaced"),
    "customer.credits.adjust": _l("Credits adjusted"),
    "customer.sync": _l("Synced with iamport"),
    "payment.refund": _l("Refund"),
    "payment.superseded": _l("Charge superseded"),
    "schedule.change_time": _l("Charge time changed"),
    "schedule.register": _l("Charge scheduled"),
    "schedule.reschedule": _l("Charge rescheduled"),
    "schedule.retry": _l("Scheduled charge retried"),
    "schedule.revoke": _l("Scheduled charge revoked"),
    "subscription.cancel": _l("Subscription cancelled"),
    "subscription.change_plan": _l("Plan changed"),
    "subscription.create": _l("Subscription started"),
    "subscription.dunning_exhausted": _l("Retries exhausted"),
    "subscription.pause": _l("Subscription paused"),
    "subscription.reinstate": _l("Subscription reinstated"),
    "subscription.replan": _l("Next charge planned again"),
    "subscription.resume": _l("Subscription resumed"),
    "plan.create": _l("Plan created"),
    "sync.run": _l("Sync run"),
    "webhook.reprocess": _l("Webhook reprocessed"),
    "staff.sign_in": _l("Signed in"),
    "staff.sign_out": _l("Signed out"),
    "staff.create": _l("Staff account created"),
    "staff.change_role": _l("Role changed"),
    "staff.activate": _l("Account reactivated"),
    "staff.deactivate": _l("Account deactivated"),
    "staff.reset_password": _l("Password reset"),
    "staff.change_password": _l("Password changed"),
    "staff.sign_out_everywhere": _l("Signed out everywhere"),
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
    "export.download": _l("CSV exported"),
    "export.refused": _l("Export refused"),
    "setup.connection_test": _l("iamport connection tested"),
    "setup.step_done": _l("Go-live step done"),
    "setup.step_undone": _l("Go-live step reopened"),
}
LABELS = {
    "attention": ATTENTION_LABELS,
    "subscription": SUBSCRIPTION_STATUS_LABELS,
    "payment": PAYMENT_STATUS_LABELS,
    "payment_refund_badge": PAYMENT_REFUND_BADGE_LABELS,
    "origin": PAYMENT_ORIGIN_LABELS,
    "schedule": SCHEDULE_STATUS_LABELS,
    "schedule_payment": SCHEDULE_RESULT_LABELS,
    "outcome": OUTCOME_LABELS,
    "action": ACTION_LABELS,
    "webhook": WEBHOOK_STATE_LABELS,
    "webhook_status": WEBHOOK_STATUS_LABELS,
    "actor": ACTOR_LABELS,
    "webhook_refusal": WEBHOOK_REFUSAL_LABELS,
    "refund": REFUND_STATUS_LABELS,
    "billing_key": BILLING_KEY_LABELS,
    "role": ROLE_LABELS,
}


def refund_aware_status(status: str | None, amount: int | None,
                        cancel_amount: int | None) -> str | None:
    """Return a payment's status as shown and exported: ``partially_refunded`` when part of it
    was refunded (iamport may call such a payment ``cancelled``), never "refunded"."""
    if status in ("paid", "cancelled") and amount and 0 < (cancel_amount or 0) < amount:
        return "partially_refunded"
    return status


# Translated labels per (locale, kind, code): a list page shows the same few labels on every
# row, and translating a lazy string costs a catalogue lookup each time.
_translated_labels: dict[tuple[str, str, str], str] = {}


def label(kind: str, value: str | None) -> str:
    """Return the translated name of a stored code (``label("payment", "paid")``)."""
    return label_in(page_locale(), kind, value)


def label_in(locale: str, kind: str, value: str | None) -> str:
    """Return ``label(kind, value)`` for a page in ``locale`` (row writers look it up once)."""
    if value is None:
        return ""
    names = LABELS.get(kind, {})
    if value not in names:
        return value
    key = (locale, kind, value)
    text = _translated_labels.get(key)
    if text is None:
        text = _translated_labels[key] = str(names[value])
    return text


def _plain_escape():
    """Return markupsafe's C escaping function, which ``escape`` wraps: it answers a str."""
    try:
        from markupsafe._speedups import _escape_inner
    except ImportError:  # markupsafe without its C speedups, or a later layout of the package
        return lambda text: str(escape(text))
    return _escape_inner


_escape_inner = _plain_escape()


def escape_text(value) -> str:
    """Return ``str(escape(value))`` without building the Markup: a table row escapes a dozen
    values, and building each Markup cost several times the escaping."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return _escape_inner(str(value))


# Badges and uids, as functions that templates and the list rows call alike: no macro call per
# cell.


def status_badge_html(kind: str, value: str | None, label=label) -> Markup:
    """Return a status's badge (``label``: ``label``, or one bound to a page's locale with
    ``label_in``)."""
    if not value:
        return Markup("")
    shown = escape_text(label(kind, value))
    return Markup(f'<span class="badge badge-{escape_text(value)}">{shown}</span>')


def partly_refunded(charge) -> bool:
    """Return whether some of a charge, not all of it, was refunded (iamport marks a payment
    cancelled after any refund, partial or full)."""
    return 0 < charge.cancel_amount < charge.amount


def payment_status_html(payment, label=label) -> Markup:
    """Return a payment's status badge in a list (a partial refund shows as such; the detail
    pages' ``payment_badge_html`` adds the refunded amount)."""
    if partly_refunded(payment):
        shown = escape_text(label("payment_refund_badge", "partially_refunded"))
        return Markup(f'<span class="badge badge-partial">{shown}</span>')
    if payment.status == "cancelled":
        shown = escape_text(label("payment_refund_badge", "cancelled"))
        return Markup(f'<span class="badge badge-cancelled">{shown}</span>')
    return status_badge_html("payment", payment.status, label)


def payment_badge_html(payment, label=label) -> Markup:
    """Return a payment's status badge on the detail pages: as in a list, and a partial refund
    shows the amount refunded."""
    if partly_refunded(payment):
        return partial_refund_badge_html(payment.cancel_amount, label)
    return payment_status_html(payment, label)


def partial_refund_badge_html(refunded: int, label=label) -> Markup:
    """Return the badge of a charge refunded in part, with the amount refunded."""
    shown = escape_text(label("payment_refund_badge", "partially_refunded"))
    return Markup(f'<span class="badge badge-partial">{shown} {won(refunded)}</span>')


def refund_badge_html(refund, payment_amount: int, label=label) -> Markup:
    """Return a refund's badge: a refund that went through for less than its payment's amount
    is a partial refund."""
    if refund.status == "succeeded" and refund.amount < payment_amount:
        return status_badge_html("refund", "partially_refunded", label)
    return status_badge_html("refund", refund.status, label)


def schedule_result_html(schedule, label=label) -> Markup:
    """Return a scheduled charge's badge: its state until it ran, then its payment's (a charge
    refunded in part reads so, with the amount; never "refunded")."""
    if schedule.schedule_status != "executed":
        return status_badge_html("schedule", schedule.schedule_status, label)
    payment = schedule.payment
    if payment and partly_refunded(payment):
        return partial_refund_badge_html(payment.cancel_amount, label)
    return status_badge_html("schedule_payment", schedule.payment_status, label)


def subscription_badge_html(subscription, label=label, zone: ZoneInfo | None = None) -> Markup:
    """Return a subscription's status badge and, when it ends at its period's end, when."""
    badge = status_badge_html("subscription", subscription.status, label)
    if subscription.cancel_at_period_end and subscription.status != "cancelled":
        ends = particles.attach(page_gettext(
            "Ends %(time)s", time=local_time(subscription.current_period_end, zone=zone)))
        badge += Markup(f' <span class="badge badge-warning">{escape_text(ends)}</span>')
    return badge


NO_UID = Markup('<span class="muted">—</span>')


def uid_html(value: str | None) -> Markup:
    """Return a uid as code, or a muted dash when there is none."""
    if value:
        return Markup(f'<code class="uid">{escape_text(value)}</code>')
    return NO_UID


def https_only(url: str | None) -> str | None:
    """Return a link from iamport only if it is ``https:`` (never ``javascript:`` or plain HTTP)."""
    if isinstance(url, str) and url[:8].lower() == "https://" and len(url) > 8:
        return url
    return None


def duration(seconds: int | None) -> str:
    """Return a wait as a short translated span: "45 s", "12 min", "3 h"."""
    seconds = int(seconds or 0)
    if seconds < 60:
        return gettext("%(count)s s", count=seconds)
    if seconds < 3600:
        return gettext("%(count)s min", count=seconds // 60)
    return gettext("%(count)s h", count=seconds // 3600)


TEMPLATE_FILTERS = {
    "https_only": https_only,
    "duration": duration,
    "won": won,
    "local_time": local_time,
    "billing_anchor": billing_anchor,
    "local_date": local_date,
    "iso_local": iso_local,
    "datetime_input": datetime_input_value,
}
