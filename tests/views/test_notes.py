"""Internal notes on a customer: who may write them, and where they show."""
from __future__ import annotations

from dashboard.extensions import db
from dashboard.models import CustomerNote

from .conftest import HTMX, make_customer


def test_support_adds_a_note_shown_with_author_and_time_on_page_and_timeline(app, as_role):
    with app.app_context():
        customer_id = make_customer().id
    client = as_role("support")
    response = client.post(f"/customers/{customer_id}/notes",
                           data={"body": "  전화 문의: 다음 달 해지 예정  "})
    assert response.status_code == 303
    with app.app_context():
        note = db.session.scalar(db.select(CustomerNote))
        assert note.body == "전화 문의: 다음 달 해지 예정"
        assert note.author_label == "support@example.com" and note.customer_id == customer_id
    html = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    notes = html.split('id="notes"')[1].split("</section>")[0]
    assert "전화 문의: 다음 달 해지 예정" in notes and "support@example.com" in notes
    timeline = html.split('class="timeline"')[1]
    assert "tl-note" in timeline and "전화 문의: 다음 달 해지 예정" in timeline


def test_an_empty_note_re_renders_with_422_and_stores_nothing(app, as_role):
    with app.app_context():
        customer_id = make_customer().id
    response = as_role("support").post(f"/customers/{customer_id}/notes", data={"body": "  "},
                                       headers=HTMX)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(CustomerNote.id))) == 0


def test_a_viewer_cannot_add_notes_nor_sees_the_form(app, as_role):
    with app.app_context():
        customer_id = make_customer().id
    viewer = as_role("viewer")
    assert viewer.post(f"/customers/{customer_id}/notes", data={"body": "x"}).status_code == 403
    assert "/notes" not in viewer.get(f"/customers/{customer_id}").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(CustomerNote.id))) == 0


def test_a_too_long_note_is_refused_in_the_page_language(app, as_role, monkeypatch):
    """WTForms' own messages follow the page's language. Each language's catalogue is read
    once for the process, not again on every request that shows a form."""
    from dashboard import forms

    forms.wtforms_messages.cache_clear()
    read = []
    load = forms.Translations.load

    def counted_load(*args, **options):
        if options.get("domain") == "wtforms":
            read.append(args[1])
        return load(*args, **options)

    monkeypatch.setattr(forms.Translations, "load", counted_load)
    with app.app_context():
        customer_id = make_customer().id
    client = as_role("support")

    def refusal() -> str:
        response = client.post(f"/customers/{customer_id}/notes", data={"body": "가" * 2001},
                               headers=HTMX)
        assert response.status_code == 422
        return response.get_data(as_text=True)

    assert "이 항목은 2000자 보다 많을 수 없습니다." in refusal()
    assert "이 항목은 2000자 보다 많을 수 없습니다." in refusal()
    client.set_cookie("lang", "en")
    assert "Field cannot be longer than 2000 characters." in refusal()
    assert read == [["ko"], ["en"]]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(CustomerNote.id))) == 0
