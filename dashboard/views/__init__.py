"""The staff console: blueprints, sign-in wiring, template helpers and security headers.

``register_console(app)`` is what ``create_app`` calls; ``health`` stays separate because
load balancers call it without a session.
"""
from __future__ import annotations

from flask import Flask, current_app, request, session
from flask_babel import gettext as _
from flask_login import current_user
from jinja2 import pass_eval_context
from markupsafe import Markup

from .. import desk, formatting, messages, particles, sessions
from ..actions import allowed_actions
from ..attention import next_charge_at
from ..extensions import login_manager
from ..forms import CANCEL_REASONS, REFUND_REASONS
from ..htmx import HTMX_INTEGRITY, HTMX_URL, htmx_config_json
from .access import redirect_to_sign_in
from .common import fixed_url, id_url
from .errors import error_response, register_error_handlers
from .rows import (
    audit_rows,
    calendar_weeks,
    customer_payment_rows,
    customer_rows,
    event_rows,
    failed_webhook_items,
    open_action_html,
    past_due_items,
    payment_rows,
    pending_items,
    post_button_html,
    revenue_bars,
    schedule_rows,
    stalled_items,
    subscription_payment_rows,
    subscription_rows,
    timeline_items,
)

# Only the pinned htmx file and our own static/app.js may run as script; no inline script or
# style anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' {HTMX_URL}",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


def register_console(app: Flask) -> None:
    """Register the console's blueprints, user loader, template helpers and headers."""
    from . import (
        admin,
        auth,
        customers,
        events,
        overview,
        payments,
        schedules,
        search,
        subscriptions,
    )

    for module in (auth, overview, customers, subscriptions, schedules, payments, events,
                   search, admin):
        app.register_blueprint(module.bp)

    login_manager.login_view = "auth.login"
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(redirect_to_sign_in)

    app.jinja_env.filters.update(formatting.TEMPLATE_FILTERS)
    app.jinja_env.filters["particles"] = particles.attach
    resolve_particles_in_templates(app)
    app.context_processor(template_globals)
    # Globals (not context) so that imported macros can use them too.
    app.jinja_env.globals.update(
        can=can,
        actions=allowed_actions,
        label=formatting.label,
        next_charge_at=next_charge_at,
        role_label=lambda role: formatting.label("role", role),
        saved_filters=desk.saved_filters,
        webhook_error=messages.webhook_error,
        refund_reasons=REFUND_REASONS,
        cancel_reasons=CANCEL_REASONS,
        status_badge_html=formatting.status_badge_html,
        payment_status_html=formatting.payment_status_html,
        payment_badge_html=formatting.payment_badge_html,
        refund_badge_html=formatting.refund_badge_html,
        subscription_badge_html=formatting.subscription_badge_html,
        schedule_result_html=formatting.schedule_result_html,
        uid_html=formatting.uid_html,
        id_url=id_url,
        fixed_url=fixed_url,
        payment_rows=payment_rows,
        audit_rows=audit_rows,
        customer_payment_rows=customer_payment_rows,
        customer_rows=customer_rows,
        subscription_rows=subscription_rows,
        subscription_payment_rows=subscription_payment_rows,
        event_rows=event_rows,
        schedule_rows=schedule_rows,
        timeline_items=timeline_items,
        past_due_items=past_due_items,
        stalled_items=stalled_items,
        pending_items=pending_items,
        failed_webhook_items=failed_webhook_items,
        calendar_weeks=calendar_weeks,
        revenue_bars=revenue_bars,
        post_button_html=post_button_html,
        open_action_html=open_action_html,
    )
    register_error_handlers(app)
    app.before_request(refuse_nul_characters)
    app.after_request(add_security_headers)


# Templates' texts without variables, per (locale, text, autoescape): a page prints a few
# hundred, and each costs a catalogue lookup, a %-format and a particle pass. Bounded, in case
# a template translates a text it was handed.
_template_texts: dict[tuple[str, str, bool], str] = {}
TEMPLATE_TEXTS_KEPT = 5000


def resolve_particles_in_templates(app: Flask) -> None:
    """Make the templates' ``_()`` pick 을/를, 이/가... to suit the names and amounts put in."""

    def translate(string, variables, autoescape):
        # As Jinja's new-style gettext: escaped under autoescape, always %-formatted.
        translated = formatting.page_translations().gettext(string)
        if autoescape:
            translated = Markup(translated)
        translated = translated % variables
        resolved = particles.attach(str(translated))
        return Markup(resolved) if isinstance(translated, Markup) else resolved

    # The evaluation context, not the template's: Jinja copies the whole context for each
    # call of a context function made below a ``{% set %}`` (by the profile, an eighth of the
    # customer page's rendering went to those copies).
    @pass_eval_context
    def gettext_with_particles(eval_context, string, **variables):
        autoescape = eval_context.autoescape
        if variables:
            return translate(string, variables, autoescape)
        key = (formatting.page_locale(), string, autoescape)
        text = _template_texts.get(key)
        if text is None:
            text = translate(string, variables, autoescape)
            if len(_template_texts) < TEMPLATE_TEXTS_KEPT:
                _template_texts[key] = text
        return text

    app.jinja_env.globals.update(_=gettext_with_particles, gettext=gettext_with_particles)


def load_user(user_id: str) -> sessions.StaffMember | None:
    """Return the staff member of the cookie's server-side session while it is live."""
    try:
        user_id = int(user_id)
    except ValueError:
        return None
    return sessions.resume_session(session.get(sessions.SESSION_COOKIE_KEY), user_id)


# Blueprints that read their request body raw: parsing it here would consume it.
RAW_BODY_BLUEPRINTS = {"webhooks", "api"}


def refuse_nul_characters():
    """Answer 400 when a parameter holds a NUL character, which PostgreSQL text cannot store
    (every filter and form field would otherwise need its own check)."""
    values = list(request.args.values())
    if request.method == "POST" and request.blueprint not in RAW_BODY_BLUEPRINTS:
        values += request.form.values()
    if any("\x00" in value for value in values):
        return error_response(400, _("Bad request"), _("A value holds a character no form "
                                                        "can send (NUL)."))
    return None


def template_globals() -> dict:
    """Values every template may use."""
    return {
        "htmx_url": HTMX_URL,
        "htmx_integrity": HTMX_INTEGRITY,
        "htmx_config": htmx_config_json(),
        "current_language": formatting.select_locale(),
        "languages": formatting.supported_languages(),
    }


def can(role: str) -> bool:
    """Return whether the signed-in user has at least ``role`` (hides buttons they may not use)."""
    return bool(current_user.is_authenticated and current_user.has_role(role))


# One year; browsers then refuse plain HTTP to this host.
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def add_security_headers(response):
    """Add CSP and related headers to every HTML answer; keep staff pages, JSON and the
    webhook's plain answers out of caches; send HSTS when cookies are Secure (outside debug
    and demo)."""
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    if response.mimetype == "application/json" or request.blueprint == "webhooks":
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cache-Control", "no-store")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.blueprint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        response.vary.add("HX-Request")
    return response
