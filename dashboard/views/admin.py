"""Operations pages for admins: staff accounts and sessions, API tokens, the audit log, and
the setup page (iamport connection, webhook URL, NHN KCP go-live checklist)."""
from __future__ import annotations

import json

from flask import Blueprint, current_app, flash, request, url_for
from flask_babel import gettext as _

from .. import api_tokens, setup, staff
from ..admin_forms import AuditFilterForm, RoleForm, StaffCreateForm, StepForm, TokenCreateForm
from ..formatting import ACTION_LABELS, iso_local, label
from ..forms import PlainActionForm
from ..htmx import redirect_after_action, render_page_or_fragment
from ..queries import admin as admin_queries
from .access import current_actor, require_sign_in, role_required
from .common import export_url, next_page_url, or_404, stream_csv

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_sign_in)


# --- staff -------------------------------------------------------------------------------


@bp.get("/users")
@role_required("admin")
def users():
    """List staff accounts with their role, state, last sign-in and live sessions."""
    return render_page_or_fragment("admin/users.html", None,
                                   rows=admin_queries.staff_with_session_counts(),
                                   form=StaffCreateForm())


@bp.post("/users")
@role_required("admin")
def create_user():
    """Create a staff account and show its one-time password once."""
    form = StaffCreateForm()
    if form.validate_on_submit():
        try:
            user, password = staff.invite_staff(form.email.data, role=form.role.data,
                                                name=form.name.data or "", actor=current_actor())
        except staff.StaffError as error:
            form.email.errors.append(str(error))
        else:
            return render_secret_once(
                _("Account created for %(email)s", email=user.email),
                _("One-time password: give it to them in person or by phone; it is not shown "
                  "again. They sign in with it and change it under Password."),
                password, url_for("admin.user", user_id=user.id), status=201)
    return render_page_or_fragment("admin/users.html", None, status=422,
                                   rows=admin_queries.staff_with_session_counts(), form=form)


def render_secret_once(title: str, explanation: str, secret: str, back_url: str,
                       status: int = 200):
    """Show a password or token once; the page is never cached (Cache-Control: no-store)."""
    return render_page_or_fragment("admin/secret_once.html", None, status=status, title=title,
                                   explanation=explanation, secret=secret, back_url=back_url)


@bp.get("/users/<int:user_id>")
@role_required("admin")
def user(user_id: int):
    """Show a staff account: role, state, actions and live sessions."""
    member = or_404(admin_queries.staff_member(user_id))
    return render_user(member)


def render_user(member, *, error: str | None = None, status: int = 200, confirm=None):
    return render_page_or_fragment(
        "admin/user.html", None, status=status, member=member, error=error, confirm=confirm,
        role_form=RoleForm(role=member.role), sessions=admin_queries.live_sessions(member.id),
    )


@bp.post("/users/<int:user_id>/role")
@role_required("admin")
def change_role(user_id: int):
    """Give a staff member another role."""
    member = or_404(admin_queries.staff_member(user_id))
    form = RoleForm()
    if not form.validate_on_submit():
        return render_user(member, error=_("Choose one of the roles."), status=422)
    try:
        staff.change_role(user_id, form.role.data, actor=current_actor())
    except staff.StaffError as error:
        return render_user(member, error=_refusal(error), status=422)
    flash(_("%(email)s is now %(role)s.", email=member.email,
            role=_role_name(form.role.data)), "success")
    return redirect_after_action(url_for("admin.user", user_id=user_id))


# What each confirmed account action does: (service, confirmation text, button, done message).
ACCOUNT_ACTIONS = {
    "deactivate": (
        lambda user_id, actor: staff.set_active(user_id, False, actor=actor),
        lambda: _("Deactivate this account? Its sessions end now and it cannot sign in "
                  "until reactivated."),
        lambda: _("Deactivate"), lambda: _("Account deactivated; its sessions ended."),
    ),
    "activate": (
        lambda user_id, actor: staff.set_active(user_id, True, actor=actor),
        lambda: _("Reactivate this account? It can sign in again with its password."),
        lambda: _("Reactivate"), lambda: _("Account reactivated."),
    ),
    "sign-out-everywhere": (
        lambda user_id, actor: staff.sign_out_everywhere(user_id, actor=actor),
        lambda: _("Sign this person out on every browser? Their sessions end now."),
        lambda: _("Sign out everywhere"), lambda: _("Every session of the account ended."),
    ),
}


@bp.post("/users/<int:user_id>/<action>")
@role_required("admin")
def account_action(user_id: int, action: str):
    """Deactivate, reactivate or sign out everywhere, after a confirmation."""
    member = or_404(admin_queries.staff_member(user_id))
    service, question, button, done = or_404(ACCOUNT_ACTIONS.get(action))
    form = PlainActionForm()
    if not form.validate_on_submit() or not form.is_confirmed:
        return render_user(member, confirm={
            "url": url_for("admin.account_action", user_id=user_id, action=action),
            "question": question(), "button": button()})
    try:
        service(user_id, current_actor())
    except staff.StaffError as error:
        return render_user(member, error=_refusal(error), status=422)
    flash(done(), "success")
    return redirect_after_action(url_for("admin.user", user_id=user_id))


@bp.post("/users/<int:user_id>/reset-password")
@role_required("admin")
def reset_password(user_id: int):
    """Replace the password with a one-time one (shown once) and end every session."""
    member = or_404(admin_queries.staff_member(user_id))
    form = PlainActionForm()
    if not form.validate_on_submit() or not form.is_confirmed:
        return render_user(member, confirm={
            "url": url_for("admin.reset_password", user_id=user_id),
            "question": _("Reset the password? The old one stops working and every session "
                          "of the account ends now."),
            "button": _("Reset password")})
    member, password = staff.reset_password(user_id, actor=current_actor())
    return render_secret_once(
        _("New password for %(email)s", email=member.email),
        _("One-time password: give it to them in person or by phone; it is not shown again."),
        password, url_for("admin.user", user_id=user_id))


def _role_name(role: str) -> str:
    return label("role", role)


def _refusal(error: staff.StaffError) -> str:
    if isinstance(error, staff.LastAdmin):
        return _("Refused: at least one other active admin must remain, and admins cannot "
                 "demote or deactivate themselves.")
    if isinstance(error, staff.DuplicateEmail):
        return _("An account with this email already exists.")
    return _("The change was refused.")


# --- API tokens --------------------------------------------------------------------------


@bp.get("/tokens")
@role_required("admin")
def tokens():
    """List API tokens with their scopes and last use; create one."""
    return render_tokens(TokenCreateForm())


def render_tokens(form, status: int = 200, error: str | None = None):
    return render_page_or_fragment("admin/tokens.html", None, status=status, form=form,
                                   error=error, rows=admin_queries.api_tokens())


@bp.post("/tokens")
@role_required("admin")
def create_token():
    """Create an API token with the chosen scopes and show it once."""
    form = TokenCreateForm()
    if not form.validate_on_submit():
        return render_tokens(form, status=422)
    try:
        token = api_tokens.create_token(form.name.data, actor=current_actor(),
                                        scopes=form.scopes.data)
    except api_tokens.TokenError:
        return render_tokens(form, status=422, error=_("Give the token a name and a scope."))
    return render_secret_once(
        _("API token %(name)s", name=form.name.data),
        _("Store it in your application's secrets now: it is not shown again. Send it as "
          "\"Authorization: Bearer <token>\"."), token, url_for("admin.tokens"), status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@role_required("admin")
def revoke_token(token_id: int):
    """Stop an API token from working, after a confirmation."""
    form = PlainActionForm()
    row = or_404(admin_queries.api_token(token_id))
    if not form.validate_on_submit() or not form.is_confirmed:
        return render_page_or_fragment("admin/tokens.html", None, form=TokenCreateForm(),
                                       rows=admin_queries.api_tokens(), error=None,
                                       confirm_revoke=row)
    api_tokens.revoke_token(token_id, actor=current_actor())
    flash(_("API token %(name)s revoked.", name=row.name), "success")
    return redirect_after_action(url_for("admin.tokens"))


# --- audit -------------------------------------------------------------------------------


def read_audit_filters() -> tuple[AuditFilterForm, admin_queries.AuditFilters]:
    form = AuditFilterForm(request.args)
    form.validate()

    def valid(field):
        return field.data if not field.errors else None

    return form, admin_queries.AuditFilters(
        actor=(form.actor.data or "")[:254], action=(form.action.data or "")[:64],
        target=(form.target.data or "")[:120], date_from=valid(form.from_),
        date_to=valid(form.to),
    )


# The action filter's choices: every action the console records, in order. Reading them
# from the log would read the whole log on every visit.
AUDITED_ACTIONS = sorted(ACTION_LABELS)


@bp.get("/audit")
@role_required("admin")
def audit():
    """The audit log: every staff action, sign-in, export and setting change, newest first."""
    form, filters = read_audit_filters()
    page = admin_queries.audit_page(filters, after=request.args.get("after"))
    return render_page_or_fragment(
        "admin/audit.html", "admin/_audit_table.html", form=form, page=page,
        actions=AUDITED_ACTIONS,
        next_url=next_page_url("admin.audit", page.next_after),
        csv_url=export_url("admin.audit_export"),
    )


@bp.get("/audit.csv")
@role_required("admin")
def audit_export():
    """Download every audit entry matching the filters as CSV."""
    _form, filters = read_audit_filters()
    header = ["time", "actor", "ip_address", "action", "target_type", "target_id",
              "customer_id", "reason", "outcome", "details"]

    def rows():
        for entry in admin_queries.iterate_audit(filters):
            yield [iso_local(entry.created_at), entry.actor_label, entry.ip_address,
                   entry.action, entry.target_type, entry.target_id, entry.customer_id,
                   entry.reason, entry.outcome,
                   json.dumps(entry.details or {}, ensure_ascii=False, sort_keys=True)]

    return stream_csv("audit.csv", header, rows())


# --- setup -------------------------------------------------------------------------------


def webhook_url() -> str:
    """The exact notification URL to paste into PortOne's console, with its token."""
    token = current_app.config.get("IAMPORT_WEBHOOK_TOKEN") or None
    return url_for("webhooks.iamport", token=token, _external=True)


def render_setup(connection: str | None = None, status: int = 200):
    config = current_app.config
    return render_page_or_fragment(
        "admin/setup.html", None, status=status, connection=connection,
        webhook_url=webhook_url(), webhook_token_set=bool(config.get("IAMPORT_WEBHOOK_TOKEN")),
        setup_status=admin_queries.setup_status(), steps=setup.GO_LIVE_STEPS,
        pg=config["IAMPORT_PG"], api_url=config["IAMPORT_API_URL"],
        billing_mode=config["BILLING_MODE"], retry_days=config["DUNNING_RETRY_DAYS"],
        final_action=config["DUNNING_FINAL_ACTION"], step_form=StepForm(),
    )


@bp.get("/setup")
@role_required("admin")
def setup_page():
    """Connection test, webhook URL, PG channel, dunning policy and the go-live checklist."""
    return render_setup()


@bp.post("/setup/connection-test")
@role_required("admin")
def connection_test():
    """Ask iamport for a token with the configured key and secret and say what happened."""
    form = PlainActionForm()
    if not form.validate_on_submit():
        return render_setup(status=422)
    return render_setup(connection=setup.test_connection(actor=current_actor()))


@bp.post("/setup/steps/<key>")
@role_required("admin")
def mark_step(key: str):
    """Mark a go-live step done (or reopen it), recording who and when."""
    if key not in setup.STEP_KEYS:
        return or_404(None)
    form = StepForm()
    if not form.validate_on_submit():
        return render_setup(status=422)
    setup.mark_step(key, form.done.data != "no", actor=current_actor(),
                    note=form.note.data or None)
    return redirect_after_action(url_for("admin.setup_page"))
