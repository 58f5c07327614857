"""Forms of the admin pages (staff accounts, API tokens, audit filters, go-live steps) and
of changing one's own password."""
from __future__ import annotations

from wtforms import (
    DateField,
    HiddenField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    Length,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from .formatting import ROLE_LABELS
from .formatting import lazy_gettext as _l
from .forms import ConsoleForm, FilterForm, PlainActionForm, choice
from .models import API_SCOPES, ROLES


def _strip(value):
    return value.strip() if isinstance(value, str) else value


ROLE_CHOICES = [choice(role, ROLE_LABELS[role]) for role in ROLES]
SCOPE_LABELS = {
    "subscriptions:read": _l("Read subscriptions"),
    "subscriptions:write": _l("Start and cancel subscriptions"),
}


class StaffCreateForm(ConsoleForm):
    email = StringField(
        _l("Email"), filters=[_strip],
        validators=[DataRequired(), Length(max=254),
                    Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter an email address."))],
    )
    name = StringField(_l("Name"), validators=[Optional(), Length(max=100)], filters=[_strip])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="viewer")


class PasswordChangeForm(ConsoleForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    repeat = PasswordField(_l("New password again"),
                           validators=[DataRequired(), EqualTo("new", _l("The two differ."))])


class RoleForm(PlainActionForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


def at_least_one(form, field):
    """Require one or more boxes ticked (``DataRequired`` would mark every box required)."""
    if not field.data:
        raise ValidationError(_l("Choose at least one."))


class TokenCreateForm(ConsoleForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)],
                       filters=[_strip])
    scopes = SelectMultipleField(
        _l("Scopes"), choices=[choice(scope, SCOPE_LABELS[scope]) for scope in API_SCOPES],
        default=["subscriptions:read"], validators=[at_least_one],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
    )


class StepForm(PlainActionForm):
    done = HiddenField()
    note = StringField(_l("Note"), validators=[Optional(), Length(max=256)], filters=[_strip])


class AuditFilterForm(FilterForm):
    actor = StringField(_l("Actor"), filters=[_strip])
    action = StringField(_l("Action"), filters=[_strip])
    target = StringField(_l("Target"), filters=[_strip])
    from_ = DateField(_l("From"), validators=[Optional()], name="from")
    to = DateField(_l("To"), validators=[Optional()])
