"""Sign in, sign out and the language switch."""
from __future__ import annotations

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from .. import sessions, signin, staff
from ..admin_forms import PasswordChangeForm
from ..billing.audit import Actor
from ..formatting import LANGUAGE_COOKIE, LANGUAGE_COOKIE_MAX_AGE, supported_languages
from ..forms import LanguageForm, SignInForm
from ..htmx import hx_redirect, safe_next
from .access import redirect_to_sign_in

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form and sign staff in."""
    default_next = url_for("overview.index")
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next"), default_next))
    form = SignInForm(next=request.args.get("next", ""))
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            signed_in = signin.sign_in(
                form.email.data, form.password.data, ip_address=request.remote_addr,
                user_agent=request.user_agent.string,
            )
        except signin.SignInThrottled as throttled:
            minutes = max(1, int(throttled.retry_after.total_seconds() // 60))
            error = _(
                "Too many sign-in attempts from this address. Try again in %(minutes)s minutes.",
                minutes=minutes,
            )
            status = 429
        except signin.SignInRefused:
            error = _("The email or password is wrong.")
            status = 401
        else:
            start_browser_session(signed_in)
            return hx_redirect(safe_next(form.next.data, default_next))
    elif request.method == "POST":
        status = 422
    form.password.data = None
    return render_template("auth/login.html", form=form, error=error), status


def start_browser_session(signed_in: signin.SignedIn) -> None:
    """Replace whatever the cookie held (a fixed session, its CSRF token) with a new session."""
    session.clear()
    session.permanent = True
    login_user(signed_in.user)
    session[sessions.SESSION_COOKIE_KEY] = signed_in.session_key


@bp.post("/logout")
def logout():
    """End the session on the server, clear the cookie, and return to the sign-in page."""
    if current_user.is_authenticated:
        sessions.end_session(
            session.get(sessions.SESSION_COOKIE_KEY),
            actor=Actor.staff(current_user, request.remote_addr),
        )
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return hx_redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
def password():
    """Change one's own password; every other session of the account ends."""
    if not current_user.is_authenticated:
        return redirect_to_sign_in()
    form = PasswordChangeForm()
    status = 200
    if form.validate_on_submit():
        try:
            staff.change_own_password(
                current_user.id, form.current.data, form.new.data,
                actor=Actor.staff(current_user, request.remote_addr),
                keep_session_key=session.get(sessions.SESSION_COOKIE_KEY),
            )
        except staff.WrongPassword:
            form.current.errors.append(_("The current password is wrong."))
        except staff.WeakPassword as weak:
            form.new.errors.append(
                _("Use at least %(count)s characters.", count=weak.minimum))
        else:
            flash(_("Password changed. Every other session of your account has ended."),
                  "success")
            return hx_redirect(url_for("overview.index"))
    if request.method == "POST":
        status = 422
    return render_template("auth/password.html", form=form), status


@bp.post("/language")
def language():
    """Switch the console language, remembered in a cookie and on the signed-in user."""
    form = LanguageForm()
    chosen = form.language.data if form.validate_on_submit() else None
    response = make_response(
        hx_redirect(safe_next(form.next.data, url_for("overview.index")))
    )
    if chosen in supported_languages():
        response.set_cookie(
            LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_MAX_AGE,
            httponly=True, samesite="Lax", secure=request.is_secure,
        )
        if current_user.is_authenticated:
            signin.remember_language(current_user.id, chosen)
    return response
