"""Forms: sign-in, list filters (query string, no CSRF) and every staff action (CSRF on).

Labels are lazy so they follow the request's language. Card fields of the billing-key form
are never rendered with a value: the template leaves them empty on every re-render.
"""
from __future__ import annotations

import re
from functools import cache

from babel.support import Translations
from flask import current_app
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.form import Form
from wtforms.i18n import messages_path
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from .form_html import FieldHtmlMeta
from .formatting import (
    PAYMENT_ORIGIN_LABELS,
    PAYMENT_STATUS_LABELS,
    SCHEDULE_FILTER_LABELS,
    SUBSCRIPTION_STATUS_LABELS,
    WEBHOOK_STATE_LABELS,
)
from .formatting import lazy_gettext as _l
from .models import (
    MAX_CREDIT_ADJUSTMENT,
    MAX_KRW,
    PAYMENT_ORIGINS,
    PAYMENT_STATUSES,
    SUBSCRIPTION_STATUSES,
    WEBHOOK_STATES,
)

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) tuples
    def SelectChoice(value, label=None):
        return (value, label if label is not None else value)

REASON_MAX = 256
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


# --- the forms that post (CSRF) -----------------------------------------------------------


class ConsoleForm(FlaskForm):
    """A form that posts, with CSRF, whose WTForms messages come in the page's language."""

    class Meta:
        def get_translations(self, form):
            if not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return wtforms_messages(str(get_locale()))


@cache
def wtforms_messages(locale: str) -> Translations:
    """Return WTForms' own messages ("Field cannot be longer than …") in ``locale``, read
    once per language: Flask-WTF reads the catalogue again on every request with a form."""
    return Translations.load(messages_path(), [locale], domain="wtforms")


# --- sign-in and language ----------------------------------------------------------------


class SignInForm(ConsoleForm):
    email = StringField(_l("Email"), validators=[DataRequired(), Length(max=254)],
                        filters=[_strip])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    next = HiddenField()


class LanguageForm(ConsoleForm):
    language = HiddenField(validators=[DataRequired()])
    next = HiddenField()


# --- list filters (GET, no CSRF) ---------------------------------------------------------


class FilterForm(Form):
    """A list's filters, read from the query string (rendered on every list page, so through
    ``form_html``)."""

    Meta = FieldHtmlMeta
    q = StringField(_l("Search"), filters=[_strip])
    after = HiddenField()

    def __init__(self, args, **kwargs):
        super().__init__(formdata=args, **kwargs)


def choice(value, label) -> SelectChoice:
    """Return one option of a select or radio field."""
    return SelectChoice(value, label)


def _choices(values, labels):
    return [choice("", _l("All"))] + [choice(value, labels.get(value, value)) for value in values]


class CustomerFilterForm(FilterForm):
    status = SelectField(_l("Subscription status"),
                         choices=_choices(SUBSCRIPTION_STATUSES, SUBSCRIPTION_STATUS_LABELS),
                         validate_choice=False)
    plan = SelectField(_l("Plan"), choices=[choice("", _l("All"))], validate_choice=False)


class SubscriptionFilterForm(FilterForm):
    status = SelectField(_l("Status"),
                         choices=_choices(SUBSCRIPTION_STATUSES, SUBSCRIPTION_STATUS_LABELS),
                         validate_choice=False)
    plan = SelectField(_l("Plan"), choices=[choice("", _l("All"))], validate_choice=False)


class ScheduleFilterForm(FilterForm):
    status = SelectField(_l("Status"),
                         choices=_choices(SCHEDULE_FILTER_LABELS, SCHEDULE_FILTER_LABELS),
                         validate_choice=False)
    from_ = DateField(_l("From"), validators=[Optional()], name="from")
    to = DateField(_l("To"), validators=[Optional()])
    customer = StringField(_l("Customer"), filters=[_strip])


class PaymentFilterForm(FilterForm):
    status = SelectField(_l("Status"),
                         choices=[*_choices(PAYMENT_STATUSES, PAYMENT_STATUS_LABELS),
                                  choice("partially_refunded", _l("Partially refunded"))],
                         validate_choice=False)
    origin = SelectField(_l("Origin"), choices=_choices(PAYMENT_ORIGINS, PAYMENT_ORIGIN_LABELS),
                         validate_choice=False)
    from_ = DateField(_l("From"), validators=[Optional()], name="from")
    to = DateField(_l("To"), validators=[Optional()])
    min_amount = IntegerField(_l("Min amount"),
                              validators=[Optional(), NumberRange(min=0, max=MAX_KRW)])
    max_amount = IntegerField(_l("Max amount"),
                              validators=[Optional(), NumberRange(min=0, max=MAX_KRW)])
    customer = StringField(_l("Customer"), filters=[_strip])
    uid = StringField(_l("imp_uid or merchant_uid"), filters=[_strip])
    refunded_from = DateField(_l("Refunded from"), validators=[Optional()])
    refunded_to = DateField(_l("Refunded until"), validators=[Optional()])


class EventFilterForm(FilterForm):
    state = SelectField(_l("State"), choices=_choices(WEBHOOK_STATES, WEBHOOK_STATE_LABELS),
                        validate_choice=False)


# --- actions -----------------------------------------------------------------------------


def reason_field(required: bool = True):
    validators = [DataRequired()] if required else [Optional()]
    return StringField(_l("Reason"), validators=[*validators, Length(max=REASON_MAX)],
                       filters=[_strip])


class ActionForm(ConsoleForm):
    """A staff action: ``next`` says where to go afterwards, ``confirmed`` marks step two."""

    next = HiddenField()
    confirmed = HiddenField()

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed.data == "yes"


class PlainActionForm(ActionForm):
    """An action with nothing to fill in (sync, resume, reinstate, reprocess)."""


class OptionalReasonForm(ActionForm):
    reason = reason_field(required=False)


class ReasonForm(ActionForm):
    reason = reason_field()


# Reasons staff pick most often; the reason field still takes any text.
REFUND_REASONS = (_l("Customer request"), _l("Duplicate payment"), _l("Service problem"),
                  _l("Charged by mistake"))
CANCEL_REASONS = (_l("Customer request"), _l("Too expensive"), _l("Not using the service"),
                  _l("Card problem"), _l("Moving to another plan or service"))


class ChargeNowForm(ActionForm):
    # Offered only when the unpaid period has already ended; "today" is the default there.
    start = RadioField(
        _l("Bill from"),
        choices=[choice("today", _l("Restart from today: one charge, a new period from now")),
                 choice("missed", _l("Collect the missed period, then each period since"))],
        default="today",
        validators=[Optional()],
    )
    reason = reason_field()


class RefundForm(ActionForm):
    # Issued with the form, so submitting it twice refunds once.
    request_key = HiddenField(validators=[Optional(), Length(max=40)])
    amount = IntegerField(
        _l("Amount to refund (empty: everything refundable)"),
        validators=[Optional(), NumberRange(min=1, max=MAX_KRW,
                                            message=_l("Enter a positive amount."))],
    )
    reason = reason_field()


class ManualChargeForm(ActionForm):
    merchant_uid = HiddenField(validators=[DataRequired(), Length(max=40)])
    amount = IntegerField(_l("Amount"),
                          validators=[InputRequired(), NumberRange(min=100, max=MAX_KRW)])
    name = StringField(_l("Order name"), validators=[DataRequired(), Length(max=40)],
                       filters=[_strip])
    # Choices are the customer's own subscriptions: a charge is never filed under another's.
    subscription_id = SelectField(_l("Subscription"), choices=[], validate_choice=True)
    reason = reason_field()
    # Set when staff confirm a second identical charge within ten minutes on purpose.
    repeat_confirmed = HiddenField()


class ScheduleTimeForm(ActionForm):
    schedule_at = DateTimeLocalField(_l("New charge time"), format=DATETIME_FORMATS,
                                     validators=[DataRequired()])
    reason = reason_field(required=False)


class RescheduleForm(ActionForm):
    schedule_at = DateTimeLocalField(_l("Charge again at"), format=DATETIME_FORMATS,
                                     validators=[DataRequired()])
    reason = reason_field()


class PauseForm(ActionForm):
    resume_at = DateTimeLocalField(_l("Resume automatically at (optional)"),
                                   format=DATETIME_FORMATS, validators=[Optional()])
    reason = reason_field()


class CancelSubscriptionForm(ActionForm):
    when = RadioField(
        _l("When"),
        choices=[choice("period_end", _l("At the end of the current period")),
                 choice("now", _l("Now"))],
        default="period_end",
        validators=[DataRequired()],
    )
    reason = reason_field()
    # Only with "now": refund what the customer paid for the period that ends today.
    refund_current = HiddenField()


class ChangePlanForm(ActionForm):
    plan_id = SelectField(_l("New plan"), coerce=int, choices=[], validate_choice=True)
    reason = reason_field(required=False)


class NoteForm(ActionForm):
    body = TextAreaField(_l("Internal note"),
                         validators=[DataRequired(message=_l("Write the note first.")),
                                     Length(max=2000)],
                         filters=[_strip])


class SavedFilterForm(ActionForm):
    name = StringField(_l("Name for this filter"), validators=[DataRequired(), Length(max=60)],
                       filters=[_strip])
    query_string = HiddenField(validators=[Length(max=1000)])
    list_name = HiddenField(validators=[DataRequired()])


class CreditAdjustmentForm(ActionForm):
    delta = IntegerField(_l("Credits to add (negative to take away)"),
                         validators=[InputRequired(), NumberRange(min=-MAX_CREDIT_ADJUSTMENT,
                                                                  max=MAX_CREDIT_ADJUSTMENT)])
    reason = reason_field()

    def validate_delta(self, field):
        if field.data == 0:
            raise ValidationError(_l("Enter a number other than zero."))


class RunSyncForm(ActionForm):
    days = IntegerField(_l("Days to check"), default=2,
                        validators=[InputRequired(), NumberRange(min=1, max=90)])


def _digits(value):
    return re.sub(r"[\s-]", "", value) if isinstance(value, str) else value


def card_expiry(value):
    """Read an expiry as printed on cards (08/29, 0829, 08/2029) or as 2029-08; give YYYY-MM."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    patterns = [
        (r"(0[1-9]|1[0-2])(\d\d)", lambda m: (m[2], m[1])),
        (r"(0?[1-9]|1[0-2])\s*[/.\-]\s*(?:20)?(\d\d)", lambda m: (m[2], m[1])),
        (r"20(\d\d)\s*[/.\-]?\s*(0[1-9]|1[0-2])", lambda m: (m[1], m[2])),
    ]
    for pattern, year_month in patterns:
        match = re.fullmatch(pattern, text)
        if match:
            year, month = year_month(match)
            return f"20{year}-{int(month):02d}"
    return text


class BillingKeyForm(ActionForm):
    """Card data for a REST key-in billing key: sent to iamport, never stored or shown."""

    card_number = StringField(
        _l("Card number"), filters=[_digits],
        validators=[DataRequired(), Regexp(r"^\d{14,16}$", message=_l("Enter 14 to 16 digits."))],
    )
    expiry = StringField(
        _l("Expiry (MM/YY, as printed on the card)"), filters=[card_expiry],
        validators=[DataRequired(),
                    Regexp(r"^20\d\d-(0[1-9]|1[0-2])$",
                           message=_l("Type the month and year as printed, e.g. 08/29."))],
    )
    birth = StringField(
        _l("Date of birth (YYMMDD) or business number (10 digits)"), filters=[_digits],
        validators=[DataRequired(),
                    Regexp(r"^(\d{6}|\d{10})$", message=_l("Enter 6 or 10 digits."))],
    )
    pwd_2digit = PasswordField(
        _l("First two digits of the card password"),
        validators=[DataRequired(), Regexp(r"^\d\d$", message=_l("Enter two digits."))],
    )

    def clear_card_data(self) -> None:
        """Forget what was typed so nothing of the card is echoed back."""
        for field in (self.card_number, self.expiry, self.birth, self.pwd_2digit):
            field.data = None
            field.raw_data = []

