"""Who may see and do what: sign-in required everywhere, roles for actions."""
from __future__ import annotations

from functools import wraps

from flask import abort, request, url_for
from flask_login import current_user

from ..billing.audit import Actor
from ..htmx import hx_redirect


def require_sign_in():
    """Send anyone not signed in to the sign-in page (``before_request`` of console blueprints)."""
    if not current_user.is_authenticated:
        return redirect_to_sign_in()
    return None


def redirect_to_sign_in():
    """Answer with the sign-in page, by ``HX-Redirect`` when htmx asked."""
    # After a POST there is nothing to go back to but the page it came from.
    next_url = request.full_path.rstrip("?") if request.method == "GET" else None
    return hx_redirect(url_for("auth.login", next=next_url))


def role_required(role: str):
    """Refuse the view with 403 unless the signed-in user has at least ``role``."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect_to_sign_in()
            if not current_user.has_role(role):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_role = role
        return wrapped

    return decorator


def current_actor() -> Actor:
    """Return the signed-in staff member as the actor of a billing call."""
    return Actor.staff(current_user, request.remote_addr)
