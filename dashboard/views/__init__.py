"""The staff console: blueprints, sign-in wiring, template helpers and security headers.

``register_console(app)`` is what ``create_app`` calls; ``health`` stays separate because
load balancers call it without a session.
"""
from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

from .. import formatting
from ..actions import allowed_actions
from ..attention import next_charge_at
from ..extensions import db, login_manager
from ..htmx import HTMX_INTEGRITY, HTMX_URL, htmx_config_json
from ..models import AdminUser
from .access import redirect_to_sign_in
from .errors import register_error_handlers

# Only the pinned htmx file may run as script; no inline script or style anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src {HTMX_URL}",
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
    from . import auth, customers, events, overview, payments, schedules, subscriptions

    for module in (auth, overview, customers, subscriptions, schedules, payments, events):
        app.register_blueprint(module.bp)

    login_manager.login_view = "auth.login"
    login_manager.user_loader(load_user)
    login_manager.unauthorized_handler(redirect_to_sign_in)

    app.jinja_env.filters.update(formatting.TEMPLATE_FILTERS)
    app.context_processor(template_globals)
    # Globals (not context) so that imported macros can use them too.
    app.jinja_env.globals.update(
        can=can,
        actions=allowed_actions,
        label=formatting.label,
        next_charge_at=next_charge_at,
        role_label=lambda role: formatting.label("role", role),
    )
    register_error_handlers(app)
    app.after_request(add_security_headers)


def load_user(user_id: str) -> AdminUser | None:
    """Return the staff member stored in the session, if the id is still valid."""
    try:
        return db.session.get(AdminUser, int(user_id))
    except ValueError:
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


def add_security_headers(response):
    """Add CSP and related headers to every HTML answer; keep staff pages out of caches."""
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.blueprint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        response.vary.add("HX-Request")
    return response
