"""The filter forms' fields come out of ``form_html`` exactly as WTForms' own widgets write them."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict
from wtforms.fields.core import Label as WtformsLabel
from wtforms.meta import DefaultMeta

from dashboard import admin_forms, forms
from dashboard.form_html import FieldHtmlMeta
from dashboard.formatting import LANGUAGE_COOKIE
from dashboard.forms import FilterForm, choice

ARGUMENT_SETS = [
    {},
    {"q": 'kim "<&>\' 김', "status": "paid", "origin": "manual", "from": "2026-11-01",
     "to": "2026-11-30", "min_amount": "1000", "max_amount": "abc", "customer": "cust_1",
     "uid": "imp_123", "refunded_from": "2026-11-02", "refunded_to": "bad-date",
     "state": "failed", "actor": "a@b.c", "action": "payment.refund", "target": "<x>",
     "plan": "2", "after": "20261101T000000000000.5"},
    {"status": "partially_refunded", "max_amount": "-5", "from": "2026-02-30"},
]
# Keyword arguments the templates pass when they render a field.
RENDER_ARGUMENTS = [
    {},
    {"type": "date"},
    {"min": "0"},
    {"placeholder": "customer_uid", "autocomplete": "off", "spellcheck": "false"},
    {"class_": "wide", "aria_invalid": "true", "data_role": 'a "b"', "required": True,
     "disabled": False},
]


def filter_forms():
    found, waiting = [], [FilterForm]
    while waiting:
        form_class = waiting.pop()
        found.append(form_class)
        waiting.extend(form_class.__subclasses__())
    return found


def test_every_filter_form_is_covered():
    names = {form_class.__name__ for form_class in filter_forms()}
    assert {"PaymentFilterForm", "CustomerFilterForm", "SubscriptionFilterForm",
            "ScheduleFilterForm", "EventFilterForm", "AuditFilterForm"} <= names
    assert admin_forms.AuditFilterForm in filter_forms()


@pytest.mark.parametrize("language", ["ko", "en"])
@pytest.mark.parametrize("arguments", ARGUMENT_SETS)
def test_fields_and_labels_match_wtforms(app, language, arguments):
    wtforms_meta = DefaultMeta()
    compared = 0
    with app.test_request_context("/", headers={"Cookie": f"{LANGUAGE_COOKIE}={language}"}):
        for form_class in filter_forms():
            form = form_class(MultiDict(arguments))
            form.validate()
            if hasattr(form, "plan"):  # the lists fill plans in from the database
                form.plan.choices = [choice("", "All"), choice("2", 'Pro "<b>"')]
            for field in form:
                assert isinstance(form.meta, FieldHtmlMeta)
                for render_kw in RENDER_ARGUMENTS:
                    assert field(**render_kw) == wtforms_meta.render_field(field, render_kw), (
                        form_class.__name__, field.name, render_kw)
                    compared += 1
                wtforms_label = WtformsLabel(field.label.field_id, field.label.text)
                assert field.label() == wtforms_label()
                assert str(field.label) == str(wtforms_label)
                assert field.label(class_="sr-only") == wtforms_label(class_="sr-only")
                assert field.label("Other <text>", for_="x") == wtforms_label(
                    "Other <text>", for_="x")
    assert compared > 100


def test_a_selected_choice_and_typed_values_are_kept(app):
    with app.test_request_context("/"):
        form = forms.PaymentFilterForm(MultiDict({"status": "paid", "uid": 'x"<y'}))
        form.validate()
        assert '<option selected value="paid">' in form.status()
        assert 'value="x&#34;&lt;y"' in form.uid()
        assert 'max="' in form.min_amount()  # NumberRange's flags are written
