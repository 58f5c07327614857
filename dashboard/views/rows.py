"""The rows of the payments, customers, subscriptions, schedules, webhook and audit lists, the
customer timeline's items and the overview's calendar days and chart bars, written in Python.

These lists are the console's busiest pages. Through Jinja each of a row's cells cost a
helper call through the template context and an escape of HTML already escaped, and fifty
rows cost more than the rest of the page. These functions write the same rows with the same
helpers, looking the page's locale, time zone and link patterns up once per page; the
templates keep the table, its head and its empty state. Every stored text goes through
``escape_text`` (``escape`` without building a Markup per value).
"""
from __future__ import annotations

from functools import partial
from urllib.parse import quote

from flask import current_app
from flask_wtf.csrf import generate_csrf
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from .. import particles
from ..actions import allowed_actions
from ..attention import next_charge_at
from ..formatting import (
    display_zone,
    escape_text,
    label_in,
    local_date,
    local_time,
    page_locale,
    payment_badge_html,
    payment_status_html,
    refund_badge_html,
    schedule_result_html,
    status_badge_html,
    subscription_badge_html,
    uid_html,
    won,
)
from ..formatting import lazy_gettext as _l
from ..messages import webhook_error
from .common import id_url


def page_formats():
    """Return the page's label lookup (bound to its locale) and its time zone, looked up once
    for all of a table's rows."""
    return partial(label_in, page_locale()), display_zone()


def payment_rows(rows) -> Markup:
    """Return the ``<tr>`` of each payment of the payments list."""
    label, zone = page_formats()
    payment_url = id_url("payments.detail", "payment_id")
    customer_url = id_url("customers.detail", "customer_id")
    html = []
    for p in rows:
        if p.customer:
            customer = (f'<a href="{customer_url(p.customer_id)}">'
                        f'{escape_text(p.customer.name or p.customer.customer_uid)}</a>')
        else:
            customer = "—"
        html.append(
            f'<tr><td><a href="{payment_url(p.id)}">{local_time(p.created_at, zone=zone)}</a></td>'
            f"<td>{customer}</td>"
            f"<td>{escape_text(p.name)}<br>{uid_html(p.merchant_uid)} {uid_html(p.imp_uid)}</td>"
            f"<td>{won(p.amount)}</td><td>{won(p.cancel_amount)}</td>"
            f"<td>{payment_status_html(p, label)}</td>"
            f'<td>{escape_text(label("origin", p.origin))} · {p.attempt}</td></tr>\n')
    return Markup("".join(html))


# A customer's payment: how it was charged, and the word on its refunds' rows and buttons.
ATTEMPT = _l("attempt %(n)s")
REFUND = _l("Refund")


def customer_payment_rows(payments, may_refund: bool, here: str) -> Markup:
    """Return the ``<tr>`` of each of a customer's payments, each of its refunds on a row
    under it; with ``may_refund``, a refund button on each payment that allows one."""
    label, zone = page_formats()
    payment_url = id_url("payments.detail", "payment_id")
    refund_url = id_url("payments.refund", "payment_id")
    attempt, refund = str(ATTEMPT), str(REFUND)
    html = []
    for p in payments:
        reason = (f'<br><span class="muted">{escape_text(p.fail_reason)}</span>'
                  if p.fail_reason else "")
        button = (open_action_html(refund_url(p.id), refund, here)
                  if may_refund and "refund" in allowed_actions(p) else "")
        html.append(
            f'<tr data-payment="{escape_text(p.merchant_uid)}">'
            f"<td>{local_time(p.created_at, zone=zone)}<br>"
            f'<span class="muted">{escape_text(label("origin", p.origin))} · '
            f'{particles.attach(attempt % {"n": p.attempt})}</span></td>'
            f'<td><a href="{payment_url(p.id)}">{escape_text(p.name or p.merchant_uid)}</a><br>'
            f"{uid_html(p.merchant_uid)} {uid_html(p.imp_uid)}</td>"
            f'<td>{won(p.amount)}</td><td class="refunded">{won(p.cancel_amount)}</td>'
            f"<td>{payment_badge_html(p, label)}{reason}</td>"
            f'<td class="row-actions">{button}</td></tr>\n')
        for r in p.refunds:
            html.append(
                f'<tr class="sub-row"><td>{local_time(r.cancelled_at or r.created_at, zone=zone)}'
                f'</td><td colspan="2">↳ {escape_text(refund)}: {escape_text(r.reason)}</td>'
                f"<td>{won(r.amount)}</td><td>{refund_badge_html(r, p.amount, label)}</td>"
                "<td></td></tr>\n")
    return Markup("".join(html))


def subscription_payment_rows(payments) -> Markup:
    """Return the ``<tr>`` of each payment of a subscription's page."""
    label, zone = page_formats()
    payment_url = id_url("payments.detail", "payment_id")
    html = []
    for p in payments:
        html.append(
            f'<tr><td><a href="{payment_url(p.id)}">{local_time(p.created_at, zone=zone)}</a></td>'
            f"<td>{escape_text(p.period)} / {p.attempt}</td><td>{uid_html(p.merchant_uid)}</td>"
            f"<td>{won(p.amount)}</td><td>{won(p.cancel_amount)}</td>"
            f"<td>{payment_badge_html(p, label)}</td></tr>\n")
    return Markup("".join(html))


NO_NAME = _l("(no name)")


def customer_rows(rows) -> Markup:
    """Return the ``<tr>`` of each customer of the customers list."""
    label, zone = page_formats()
    customer_url = id_url("customers.detail", "customer_id")
    no_name = str(NO_NAME)
    # A page's customers share a few plans and states: each plan's line is written once.
    plan_lines: dict[tuple[str, str], str] = {}
    html = []
    for c in rows:
        plans = []
        for s in c.subscriptions:
            line = plan_lines.get((s.plan.name, s.status))
            if line is None:
                line = plan_lines[s.plan.name, s.status] = (
                    f"<div>{escape_text(s.plan.name)} "
                    f"{status_badge_html('subscription', s.status, label)}</div>")
            plans.append(line)
        html.append(
            f'<tr><td><a href="{customer_url(c.id)}">{escape_text(c.name or no_name)}</a></td>'
            f'<td>{escape_text(c.email)}<br><span class="muted">{escape_text(c.phone)}</span></td>'
            f"<td>{uid_html(c.customer_uid)}</td>"
            f'<td>{escape_text(c.card_name or "")} {escape_text(c.card_number or "")}<br>'
            f'{status_badge_html("billing_key", c.billing_key_status, label)}</td>'
            f"<td>{''.join(plans)}</td>"
            f"<td>{local_time(c.created_at, zone=zone)}</td></tr>\n")
    return Markup("".join(html))


def subscription_rows(rows) -> Markup:
    """Return the ``<tr>`` of each subscription of the subscriptions list."""
    label, zone = page_formats()
    subscription_url = id_url("subscriptions.detail", "subscription_id")
    customer_url = id_url("customers.detail", "customer_id")
    html = []
    for s in rows:
        html.append(
            f'<tr><td><a href="{subscription_url(s.id)}">#{s.id}</a></td>'
            f'<td><a href="{customer_url(s.customer_id)}">'
            f"{escape_text(s.customer.name or s.customer.customer_uid)}</a></td>"
            f"<td>{escape_text(s.plan.name)} · {won(s.plan.amount)}</td>"
            f"<td>{subscription_badge_html(s, label, zone)}</td>"
            f"<td>{local_date(s.current_period_start, zone)} – "
            f"{local_date(s.current_period_end, zone)}</td>"
            f'<td>{local_time(next_charge_at(s), zone=zone) or "—"}</td>'
            f"<td>{local_time(s.created_at, zone=zone)}</td></tr>\n")
    return Markup("".join(html))


# A waiting or failed scheduled charge's buttons: (action, endpoint, label, button class).
SCHEDULE_BUTTONS = (
    ("change_time", "schedules.change_time", _l("Change time"), "button"),
    ("revoke", "schedules.revoke", _l("Revoke"), "button danger-outline"),
    ("retry", "schedules.retry", _l("Retry now"), "button"),
    ("reschedule", "schedules.reschedule", _l("Reschedule"), "button"),
)


def schedule_rows(rows, may_act: bool, here: str) -> Markup:
    """Return the ``<tr>`` of each scheduled charge of the schedules list; with ``may_act``,
    the buttons of the actions each one allows (each coming back to ``here``)."""
    label, zone = page_formats()
    customer_url = id_url("customers.detail", "customer_id")
    buttons = [(action, id_url(endpoint, "schedule_id", next=here), escape_text(text), classes)
               for action, endpoint, text, classes in SCHEDULE_BUTTONS] if may_act else []
    html = []
    for s in rows:
        uids = uid_html(s.merchant_uid) + (Markup("<br>") + uid_html(s.imp_uid) if s.imp_uid
                                           else "")
        reason = (f'<br><span class="muted">{escape_text(s.fail_reason)}</span>'
                  if s.fail_reason else "")
        acts = allowed_actions(s) if may_act else ()
        actions = " ".join(f'<a class="{classes}" href="{escape_text(url(s.id))}">{text}</a>'
                           for action, url, text, classes in buttons if action in acts)
        html.append(
            f"<tr><td>{local_time(s.schedule_at, zone=zone)}</td>"
            f'<td><a href="{customer_url(s.customer_id)}">'
            f"{escape_text(s.customer.name or s.customer.customer_uid)}</a></td>"
            f"<td>{won(s.amount)}</td><td>{uids}</td>"
            f'<td>{escape_text(s.period or "—")} / {s.attempt}</td>'
            f"<td>{schedule_result_html(s, label)}{reason}</td>"
            f'<td class="row-actions">{actions}</td></tr>\n')
    return Markup("".join(html))


REPROCESS = _l("Reprocess")


def event_rows(rows, may_reprocess: bool, here: str) -> Markup:
    """Return the ``<tr>`` of each received webhook of the webhook list; with
    ``may_reprocess``, a "reprocess" button on each one that can be processed again."""
    label, zone = page_formats()
    reprocess_url = id_url("events.reprocess", "event_id")
    html = []
    for e in rows:
        status = (f"{escape_text(label('webhook_status', e.status))} "
                  f"<code>{escape_text(e.status)}</code>" if e.status else "—")
        button = (post_button_html(reprocess_url(e.id), REPROCESS, here)
                  if may_reprocess and "reprocess" in allowed_actions(e) else "")
        html.append(
            f"<tr><td>{local_time(e.received_at, True, zone)}<br>"
            f'<span class="muted">{escape_text(e.remote_addr or "")}</span></td>'
            f"<td>{uid_html(e.imp_uid)}<br>{uid_html(e.merchant_uid)}</td>"
            f"<td>{status}</td><td>{status_badge_html('webhook', e.state, label)}</td>"
            f"<td>{e.attempts}</td>"
            f'<td class="muted">{escape_text(webhook_error(e.error))}</td>'
            f'<td class="row-actions">{button}</td></tr>\n')
    return Markup("".join(html))


def json_html(value) -> str:
    """Return ``value`` as Jinja's ``tojson`` filter writes it (the app's JSON, sorted keys,
    safe inside HTML)."""
    policies = current_app.jinja_env.policies
    return str(htmlsafe_json_dumps(value, dumps=policies["json.dumps_function"],
                                   **policies["json.dumps_kwargs"]))


def audit_rows(rows) -> Markup:
    """Return the ``<tr>`` of each entry of the audit log: its change as before → after when
    it records one, else its details."""
    label, zone = page_formats()
    html = []
    for e in rows:
        details = e.details
        if not details:
            change = ""
        elif isinstance(details, dict) and "before" in details:
            change = f"{json_html(details['before'])} → {json_html(details.get('after'))}"
        else:
            change = json_html(details)
        html.append(
            f"<tr><td>{local_time(e.created_at, True, zone)}</td>"
            f'<td>{escape_text(e.actor_label)}<br><span class="muted">'
            f'{escape_text(e.ip_address or "")}</span></td>'
            f'<td>{escape_text(label("action", e.action))}<br>'
            f'<code class="muted">{escape_text(e.action)}</code></td>'
            f"<td><code>{escape_text(e.target_type)}:{escape_text(e.target_id)}</code></td>"
            f'<td>{escape_text(e.reason or "")}</td><td class="muted">{change}</td>'
            f'<td>{escape_text(label("outcome", e.outcome))}</td></tr>\n')
    return Markup("".join(html))


# Failed charges counted: a past-due subscription's, and a calendar day's.
FAILED_COUNT = _l("%(count)s failed")


def past_due_items(rows) -> Markup:
    """Return the ``<li>`` of each past-due subscription of the overview."""
    subscription_url = id_url("subscriptions.detail", "subscription_id")
    failed = str(FAILED_COUNT)
    return Markup("".join(
        f'<li><a href="{subscription_url(s.id)}">{escape_text(s.customer_name or s.customer_uid)}'
        f"</a> · {escape_text(s.plan_name)} · "
        f'{particles.attach(failed % {"count": s.failed_attempts})}</li>\n' for s in rows))


def stalled_items(rows) -> Markup:
    """Return the ``<li>`` of each subscription the overview lists as one nothing will charge,
    with the reasons (``(row, codes)`` pairs)."""
    label, _zone = page_formats()
    subscription_url = id_url("subscriptions.detail", "subscription_id")
    html = []
    for s, codes in rows:
        reasons = "; ".join(f'<span data-code="{escape_text(code)}">'
                            f'{escape_text(label("attention", code))}</span>' for code in codes)
        html.append(f'<li><a href="{subscription_url(s.id)}">'
                    f"{escape_text(s.customer_name or s.customer_uid)}</a> · "
                    f"{escape_text(s.plan_name)} · {reasons}</li>\n")
    return Markup("".join(html))


def pending_items(rows) -> Markup:
    """Return the ``<li>`` of each charge or refund whose outcome is unknown, linking to its
    payment (rows of ``payment_id``, ``merchant_uid``, ``amount`` and ``created_at``)."""
    _label, zone = page_formats()
    payment_url = id_url("payments.detail", "payment_id")
    return Markup("".join(
        f'<li><a href="{payment_url(row.payment_id)}">'
        f"{uid_html(row.merchant_uid)}</a> {won(row.amount)} · "
        f"{local_time(row.created_at, zone=zone)}</li>\n" for row in rows))


def failed_webhook_items(rows) -> Markup:
    """Return the ``<li>`` of each webhook whose processing failed."""
    _label, zone = page_formats()
    return Markup("".join(
        f"<li>{uid_html(e.imp_uid or e.merchant_uid)} · {local_time(e.received_at, zone=zone)}"
        "</li>\n" for e in rows))


# The calendar's counts per day (translated once per page; the count goes in per day).
CALENDAR_TEXTS = {"scheduled": _l("%(count)s scheduled"), "paid": _l("%(count)s paid"),
                  "failed": FAILED_COUNT, "refunded": _l("%(count)s refunded")}


def calendar_weeks(weeks, schedules_url: str, payments_url: str) -> Markup:
    """Return the ``<tr>`` of each week of the overview's charge calendar: each day links to
    its schedules and counts what was waiting, paid, failed and refunded."""
    texts = {kind: str(text) for kind, text in CALENDAR_TEXTS.items()}

    def counted(kind: str, count: int) -> str:
        # As a template's _(): the catalogue's text is trusted; the count is a number.
        return particles.attach(texts[kind] % {"count": count})

    html = []
    for week in weeks:
        html.append("<tr>")
        for d in week:
            classes = ("" if d.in_month else "other-month") + (" today" if d.is_today else "")
            day = d.day.isoformat()
            cell = [f'<td class="{classes}"><a class="day" href="{schedules_url}?from={day}'
                    f'&amp;to={day}">{d.day.day}</a>']
            if d.scheduled.count:
                cell.append(f'<span class="cal-scheduled">{counted("scheduled", d.scheduled.count)}'
                            f"<br>{won(d.scheduled.amount)}</span>")
            if d.paid.count:
                cell.append(f'<span class="cal-paid">{counted("paid", d.paid.count)}'
                            f"<br>{won(d.paid.amount)}</span>")
            if d.failed.count:
                cell.append(f'<span class="cal-failed">{counted("failed", d.failed.count)}</span>')
            if d.refunded.count:
                cell.append(f'<a class="cal-refunded" href="{payments_url}?refunded_from={day}'
                            f'&amp;refunded_to={day}">{counted("refunded", d.refunded.count)}'
                            f"<br>−{won(d.refunded.amount)}</a>")
            html.append(" ".join(cell) + "</td>")
        html.append("</tr>\n")
    return Markup("".join(html))


# A chart bar's tooltip: the day's charges.
CHARGES = _l("%(count)s charges")


def revenue_bars(days, peak: int) -> Markup:
    """Return the overview chart's bar for each day (``peak``: the tallest day's amount),
    with the day's date under every fifth bar and the last."""
    charges = str(CHARGES)
    html = []
    for index, bar in enumerate(days):
        height = round(bar.amount / peak * 100, 1)
        label = particles.attach(charges % {"count": bar.count})
        axis = (f'<text x="{index * 24 + 12}" y="122" class="axis">{bar.day:%m-%d}</text>'
                if index % 5 == 0 or index == len(days) - 1 else "")
        html.append(
            f"<g><title>{bar.day.isoformat()}: {won(bar.amount)} ({label})</title>"
            f'<rect x="{index * 24 + 3}" y="{105 - height}" width="18" '
            f'height="{height if height > 0 else 0.5}" class="bar"></rect>{axis}</g>\n')
    return Markup("".join(html))


# What each kind of timeline item is called on the customer page.
TIMELINE_KINDS = {"payment": _l("Charge"), "refund": _l("Refund"), "schedule": _l("Schedule"),
                  "webhook": _l("Webhook"), "audit": _l("Staff"), "note": _l("Note")}


def timeline_items(items) -> Markup:
    """Return the ``<li>`` of each item of a customer's timeline (a few hundred at most)."""
    label, zone = page_formats()
    kinds = {kind: escape_text(name) for kind, name in TIMELINE_KINDS.items()}
    html = []
    for item in items:
        local = item.at.astimezone(zone)
        title = escape_text(item.title)
        parts = [f'<li class="tl-{escape_text(item.kind)}">'
                 f'<time datetime="{local.isoformat(timespec="seconds")}">'
                 f"{local_time(local, zone=zone)}</time> "
                 f'<span class="tl-kind">{kinds[item.kind]}</span> '
                 + (f'<a href="{escape_text(item.link)}">{title}</a>' if item.link else title)]
        if item.amount is not None:
            parts.append(f"<strong>{won(item.amount)}</strong>")
        if item.status:
            parts.append(f'<span class="badge badge-{escape_text(item.status)}">'
                         f"{escape_text(label(item.status_kind, item.status))}</span>")
        if item.actor:
            parts.append(f'<span class="muted">{escape_text(label("actor", item.actor))}</span>')
        if item.detail:
            parts.append(f'<span class="muted detail">{escape_text(item.detail)}</span>')
        html.append(" ".join(parts) + "</li>\n")
    return Markup("".join(html))


def post_button_html(url: str, label_text: str, next_url: str) -> Markup:
    """Return a one-button form that posts to ``url``."""
    url = escape_text(url)
    return Markup(
        f'<form method="post" action="{url}" hx-post="{url}" class="inline">\n'
        f'  <input type="hidden" name="csrf_token" value="{escape_text(generate_csrf())}">\n'
        f'  <input type="hidden" name="next" value="{escape_text(next_url)}">\n'
        f'  <button type="submit" class="button">{escape_text(label_text)}</button>\n'
        "</form>")


def open_action_html(url: str, label_text: str, next_url: str, danger: bool = False,
                     apart: bool = False) -> Markup:
    """Return a button that opens an action's panel and comes back to ``next_url``."""
    href = escape_text(f'{url}{"&" if "?" in url else "?"}next={quote(next_url, safe="/")}')
    classes = "button" + (" danger-outline" if danger else "") + (" apart" if apart else "")
    return Markup(f'<a class="{classes}" href="{href}" hx-get="{href}" '
                  f'hx-target="#action-panel">{escape_text(label_text)}</a>')
