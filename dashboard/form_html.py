"""The list filters' fields as HTML: the markup WTForms' widgets write, written directly.

Every list page renders its filter form on every request. WTForms formats each attribute
through ``Markup.format`` (a string formatter written in Python), and the filter form cost
more than the page's fifty rows. ``FieldHtmlMeta`` writes the same HTML with one C ``escape``
per value for the widgets filter forms use (text, date, number and hidden inputs, selects and
labels) and leaves every other widget to WTForms. ``tests/views/test_form_html.py`` compares
the two on every filter form.
"""
from __future__ import annotations

from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.fields.core import Label as WtformsLabel
from wtforms.meta import DefaultMeta
from wtforms.widgets.core import clean_key


def attributes(values: dict) -> str:
    """Return ``values`` as HTML attributes, as ``wtforms.widgets.html_params`` writes them:
    sorted by name, ``True`` as a bare name, ``False`` left out."""
    written = []
    for key, value in sorted(values.items()):
        if value is True:
            written.append(clean_key(key))
        elif value is not False:
            # escape() leaves Markup as it is; a quote in it would still end the attribute.
            written.append(f'{clean_key(key)}="{str(escape(value)).replace(chr(34), "&quot;")}"')
    return " ".join(written)


def validation_attributes(widget, field, given: dict) -> dict:
    """Return the field's flags the widget writes as attributes (``required``, ``min``...)."""
    flags = vars(field.flags)
    found = {}
    for name in widget.validation_attrs:
        if name in flags and name not in given:
            value = flags[name]
            found[name] = value() if callable(value) else value
    return found


def input_html(widget: widgets.Input, field, given: dict) -> Markup:
    """Return what ``widgets.Input`` (and ``NumberInput``) writes for ``field``."""
    if getattr(field, "_datalist", None) is not None:
        return widget(field, **given)
    values = dict(given)
    if isinstance(widget, widgets.NumberInput):
        for name in ("step", "min", "max"):
            if getattr(widget, name) is not None:
                values.setdefault(name, getattr(widget, name))
    values.setdefault("id", field.id)
    values.setdefault("type", widget.input_type)
    if "value" not in values:
        values["value"] = field._value()
    values.update(validation_attributes(widget, field, values))
    values["name"] = field.name
    return Markup(f"<input {attributes(values)}>")


def select_html(widget: widgets.Select, field, given: dict) -> Markup:
    """Return what ``widgets.Select`` writes for a single-choice field without groups."""
    if widget.multiple or field.has_groups():
        return widget(field, **given)
    values = dict(given)
    values.setdefault("id", field.id)
    values.update(validation_attributes(widget, field, values))
    values["name"] = field.name
    html = [f"<select {attributes(values)}>"]
    for choice in field._iter_choices_normalized():
        value = str(choice.value) if isinstance(choice.value, bool) else choice.value
        option = {"value": value, **(choice.render_kw or {})}
        if choice.selected:
            option["selected"] = True
        html.append(f"<option {attributes(option)}>{escape(choice.label or choice.value)}"
                    "</option>")
    html.append("</select>")
    return Markup("".join(html))


RENDERERS = {
    widgets.TextInput: input_html,
    widgets.DateInput: input_html,
    widgets.NumberInput: input_html,
    widgets.HiddenInput: input_html,
    widgets.Select: select_html,
}


class Label(WtformsLabel):
    """A field's ``<label>``, as WTForms writes it."""

    def __call__(self, text=None, **given):
        if "for_" in given:
            given["for"] = given.pop("for_")
        else:
            given.setdefault("for", self.field_id)
        return Markup(f"<label {attributes(given)}>{escape(text or self.text)}</label>")


class FieldHtmlMeta(DefaultMeta):
    """Form options that render the common widgets and labels through this module."""

    def bind_field(self, form, unbound_field, options):
        field = super().bind_field(form, unbound_field, options)
        field.label = Label(field.label.field_id, field.label.text)
        return field

    def render_field(self, field, render_kw):
        render = RENDERERS.get(type(field.widget))
        if render is None:
            return super().render_field(field, render_kw)
        given = {clean_key(key): value for key, value in render_kw.items()}
        field_kw = getattr(field, "render_kw", None)
        if field_kw is not None:
            given = {**{clean_key(key): value for key, value in field_kw.items()}, **given}
        return render(field.widget, field, given)
