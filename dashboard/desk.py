"""The support desk's own records: internal notes on customers and saved list filters.

Like the billing services, these functions own their transaction, so views never commit.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from sqlalchemy import bindparam, select

from .billing import audit, errors
from .extensions import db
from .models import Customer, CustomerNote, SavedFilter

NOTE_MAX = 2000
FILTER_LISTS = ("customers", "subscriptions", "schedules", "payments", "events")


def add_customer_note(customer_id: int, body: str, *, actor: audit.Actor) -> CustomerNote:
    """Add an internal memo to a customer, signed with its author and time."""
    body = (body or "").strip()
    if not body:
        raise errors.InvalidInput("Write the note first.")
    if len(body) > NOTE_MAX:
        raise errors.InvalidInput(f"A note holds at most {NOTE_MAX} characters.")
    if db.session.get(Customer, customer_id) is None:
        raise errors.RecordNotFound("No such customer.")
    note = CustomerNote(customer_id=customer_id, body=body, author_id=actor.user_id,
                        author_label=actor.label)
    db.session.add(note)
    db.session.commit()
    return note


def save_filter(list_name: str, name: str, query_string: str, *,
                actor: audit.Actor) -> SavedFilter:
    """Save a list's query string under ``name`` (saving a name again replaces it)."""
    name = (name or "").strip()
    if list_name not in FILTER_LISTS:
        raise errors.InvalidInput("Filters are saved for the console's lists only.")
    if not name:
        raise errors.InvalidInput("Name the filter.")
    # A page cursor is not part of a filter: the saved filter opens on its first page.
    query_string = urlencode([(key, value) for key, value in parse_qsl(query_string.lstrip("?"))
                              if key != "after" and value])
    saved = db.session.scalar(select(SavedFilter).where(SavedFilter.list_name == list_name,
                                                        SavedFilter.name == name))
    if saved is None:
        saved = SavedFilter(list_name=list_name, name=name, created_by_id=actor.user_id)
        db.session.add(saved)
    saved.query_string = query_string
    db.session.commit()
    return saved


def delete_filter(filter_id: int) -> None:
    """Forget a saved filter."""
    saved = db.session.get(SavedFilter, filter_id)
    if saved is None:
        raise errors.RecordNotFound("No such saved filter.")
    db.session.delete(saved)
    db.session.commit()


# Built once: every list page shows its saved filters.
SAVED_FILTERS = (select(SavedFilter.name, SavedFilter.query_string)
                 .where(SavedFilter.list_name == bindparam("list_name"))
                 .order_by(SavedFilter.name))


def saved_filters(list_name: str) -> list:
    """Return a list's saved filters by name: rows of (``name``, ``query_string``)."""
    return db.session.connection().execute(SAVED_FILTERS, {"list_name": list_name}).all()
