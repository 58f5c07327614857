"""Keyset paging and the search conditions every list shares.

Rules that keep pages fast at millions of rows:
- lists page by key (``created_at, id`` or the list's own time column), never by OFFSET, and
  never count a large table;
- ``customer_uid``, ``merchant_uid`` and ``imp_uid`` are exact, indexed matches; name, email
  and phone are prefix matches written as ranges so their indexes apply (exact for byte-order
  collations: SQLite's default, PostgreSQL's C / C.UTF-8), and never touch ``payment``; a
  prefix short enough to match a share of all customers is an equality on an index of the
  field's first characters, which holds its matches in the list's order (``PREFIX_HEADS``);
- related rows load in one extra query per relation (``selectinload``), never row by row;
- a filter naming several values of an indexed column is one branch per value, each read in
  the list's order and cut at a page, merged (``keyset_page`` with a list of queries);
- a search matching any of several indexed columns is one branch per column, each reading
  (time, id) from its index alone, cut at a page and united; only the page's rows are read
  (``keyset_page`` with ``AnyMatch``).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Lock
from typing import Generic, TypeVar

from sqlalchemy import and_, bindparam, or_, select, tuple_, union, union_all

from .. import formatting
from ..extensions import db
from ..models import (
    Customer,
    Payment,
    Schedule,
    leading,
)
from ..phones import is_last_digits, looks_like_phone, phone_digits

T = TypeVar("T")


PAGE_SIZE = 50


EXPORT_BATCH = 500


@dataclass
class Page(Generic[T]):
    """One page of a list and the cursor of the next page (``None`` on the last page)."""

    rows: list[T]
    next_after: str | None


class BadCursor(ValueError):
    """The ``after`` value is not a cursor this console issued."""


def encode_cursor(moment: datetime, row_id: int) -> str:
    """Return the ``after`` value that continues a list after the row (``moment``, ``row_id``)."""
    moment = moment.astimezone(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%S%f')}.{row_id}"


# The largest id a cursor may carry: a 64-bit integer, SQLite's and PostgreSQL's ``bigint``
# (a larger one cannot even be bound as a parameter on SQLite).
MAX_CURSOR_ID = 2**63 - 1


def decode_cursor(after: str) -> tuple[datetime, int]:
    """Read an ``after`` value back into (aware UTC time, id); ``BadCursor`` when it is not a
    cursor ``encode_cursor`` could have written (an impossible date, an id beyond 64 bits)."""
    match = re.fullmatch(r"(\d{8}T\d{12})\.(\d{1,19})", after or "")
    if not match or int(match.group(2)) > MAX_CURSOR_ID:
        raise BadCursor(after)
    try:
        moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except ValueError:
        raise BadCursor(after) from None
    return moment, int(match.group(2))


def keyset_page(query, time_column, id_column, *, after: str | None, descending: bool = True,
                limit: int = PAGE_SIZE, time_of=None, rows_of=None, reuse_as=None,
                parameters: dict | None = None) -> Page:
    """Run ``query`` for one page after the cursor, ordered by (time, id).

    ``query`` selects ORM objects, or, with ``rows_of``, plain columns: each result row is then
    passed to ``rows_of``. Plain columns are read on the session's connection (Core), so pages
    that only print their rows skip the ORM's loading and bookkeeping altogether.

    ``query`` may be a list of plain-column queries, one per value of a filter: the page is
    their union (``merged_page_statement``). It may be an ``AnyMatch``: the rows matching any
    of several conditions (``any_match_page_statement``).

    ``query`` may be a function that builds the statement. With ``reuse_as`` (a key naming the
    list and its filters) the page's statement is then built once per key, with the cursor as
    parameters: building a list's statement cost more than running it. ``parameters`` are the
    statement's own (a search's values).
    """
    try:
        cursor = decode_cursor(after) if after else None
    except BadCursor:  # a cursor this console did not issue reads the first page
        cursor = None
    shape = (cursor is not None, descending, limit)
    key = None if reuse_as is None else (reuse_as, *shape, _zone_key())
    statement = None if key is None else _reused_page_statements.get(key)
    if statement is None:
        built = query() if callable(query) else query
        page_of = (merged_page_statement if isinstance(built, list)
                   else any_match_page_statement if isinstance(built, AnyMatch)
                   else page_statement)
        statement = page_of(built, time_column, id_column, *shape)
        if key is not None:
            _reused_page_statements.put(key, statement)
    parameters = dict(parameters or {})
    if cursor is not None:
        parameters.update(after_time=cursor[0], after_id=cursor[1])
    if rows_of is not None:
        result = db.session.connection().execute(statement, parameters)
        rows = [rows_of(row) for row in result]
    else:
        rows = list(db.session.scalars(statement, parameters).unique())
    next_after = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        moment = time_of(last) if time_of else getattr(last, time_column.key)
        next_after = encode_cursor(moment, last.id)
    return Page(rows, next_after)


def page_statement(query, time_column, id_column, with_cursor: bool, descending: bool,
                   limit: int):
    """Return ``query`` ordered by (time, id), limited to a page and one row more, after the
    cursor given as the parameters ``after_time`` and ``after_id`` when ``with_cursor``."""
    if with_cursor:
        key = tuple_(time_column, id_column)
        bound = tuple_(bindparam("after_time", type_=time_column.type), bindparam("after_id"))
        query = query.where(key < bound if descending else key > bound)
    if descending:
        query = query.order_by(time_column.desc(), id_column.desc())
    else:
        query = query.order_by(time_column.asc(), id_column.asc())
    return query.limit(limit + 1)


def merged_page_statement(branches: list, time_column, id_column, with_cursor: bool,
                          descending: bool, limit: int):
    """Return the page of the union of ``branches``: each branch's page, ordered once.

    With an index per branch in the list's order (``(action, created_at, id)`` for
    ``action = :value``), each branch reads at most a page from its index: a filter naming
    several values costs a page per value, where one ``IN`` would read and sort every match.
    """
    parts = [page_statement(branch, time_column, id_column, with_cursor, descending,
                            limit).subquery() for branch in branches]
    union = union_all(*(select(part) for part in parts)).subquery()
    return page_statement(select(union), union.c[time_column.key], union.c[id_column.key],
                          False, descending, limit)


@dataclass(frozen=True)
class AnyMatch:
    """The rows (``columns``, of one table) that match any of ``conditions``."""

    columns: tuple
    conditions: tuple


def any_match_page_statement(match: AnyMatch, time_column, id_column, with_cursor: bool,
                             descending: bool, limit: int):
    """Return the page of the rows matching any of ``match``'s conditions: each condition's
    page of (time, id), united without duplicates (a row may match several), and then the
    page's rows in full.

    With an index per condition holding (value, time, id), as the customer search's columns
    have, each condition is read from its index alone: one ``OR`` of the conditions read every
    match's row to sort them (PostgreSQL's bitmap scans; 3,424 rows for a name prefix at 20M
    payments), when the page needs fifty.
    """
    parts = [page_statement(select(time_column, id_column).where(condition), time_column,
                            id_column, with_cursor, descending, limit).subquery()
             for condition in match.conditions]
    matches = union(*(select(part) for part in parts)).subquery()
    page = page_statement(select(matches), matches.c[time_column.key], matches.c[id_column.key],
                          False, descending, limit).subquery()
    order = (page.c[time_column.key], page.c[id_column.key])
    return (select(*match.columns).join(page, id_column == page.c[id_column.key])
            .order_by(*(column.desc() if descending else column.asc() for column in order)))


class _StatementCache:
    """The most recently used page statements, at most ``size`` of them (one per list,
    filters and display zone: filters of typed text are never kept)."""

    def __init__(self, size: int):
        self.size = size
        self.statements: OrderedDict = OrderedDict()
        self.lock = Lock()

    def get(self, key):
        with self.lock:
            statement = self.statements.get(key)
            if statement is not None:
                self.statements.move_to_end(key)
            return statement

    def put(self, key, statement) -> None:
        with self.lock:
            self.statements[key] = statement
            if len(self.statements) > self.size:
                self.statements.popitem(last=False)


_reused_page_statements = _StatementCache(256)


def _zone_key() -> str:
    # Date filters are turned into UTC bounds in the display zone when the statement is built.
    return formatting.display_zone().key


def iterate_all(query, time_column, id_column, *, descending: bool = True,
                batch: int | None = None, rows_of=None, time_of=None,
                parameters: dict | None = None) -> Iterator:
    """Yield every row of ``query`` page by page (exports: no cap, bounded memory).

    Plain rows (``rows_of``) are small, so they come in batches four times larger.
    """
    batch = batch or (EXPORT_BATCH * 4 if rows_of is not None else EXPORT_BATCH)
    after = None
    while True:
        page = keyset_page(query, time_column, id_column, after=after,
                           descending=descending, limit=batch, rows_of=rows_of,
                           time_of=time_of, parameters=parameters)
        yield from page.rows
        if rows_of is None:
            db.session.expunge_all()
        if page.next_after is None:
            return
        after = page.next_after


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """Return the range of values starting with ``prefix``: from it, up to (not including)
    the prefix with its last character one higher."""
    return prefix, prefix[:-1] + chr(min(ord(prefix[-1]) + 1, 0x10FFFF))  # U+10FFFF: no 500


def bound_prefix_range(column, name: str):
    """Match values starting with a prefix as a range the column's index can serve, its bounds
    (``prefix_bounds``) the parameters ``{name}_from`` and ``{name}_to``."""
    return and_(column >= bindparam(f"{name}_from"), column < bindparam(f"{name}_to"))


# The prefix lengths each search field has an index of first characters for (``leading``, in
# the models): a prefix this short may match a hundredth of all customers or more (a surname;
# "010", which every mobile number starts with). A range of the field's own index holds all
# its matches, read and sorted for every page; the first characters' index holds them in the
# list's order.
PREFIX_HEADS = {"name": (1, 2), "email": (1, 2), "phone": (3, 4, 5)}


def head_length(field: str, prefix: str) -> int:
    """Return ``prefix``'s length if ``field`` has an index of that many first characters,
    else 0."""
    return len(prefix) if len(prefix) in PREFIX_HEADS[field] else 0


def prefix_lookup(column, name: str, head: int):
    """Match ``column`` starting with the search's prefix: its first ``head`` characters equal
    to the parameter ``{name}_head``, or, for a prefix without such an index (``head`` 0),
    the range ``{name}_from`` to ``{name}_to``."""
    if head:
        return leading(column, head) == bindparam(f"{name}_head")
    return bound_prefix_range(column, name)


def prefix_parameters(name: str, prefix: str, head: int) -> dict:
    """Return the parameters of ``prefix_lookup(…, name, head)`` for ``prefix``."""
    if head:
        return {f"{name}_head": prefix}
    low, high = prefix_bounds(prefix)
    return {f"{name}_from": low, f"{name}_to": high}


# Built once, one statement of four unique-index lookups: every search of the customers list
# asks it, and four statements cost four round trips.
EXACT_CUSTOMER_IDS = union_all(
    select(Customer.id).where(Customer.customer_uid == bindparam("q")),
    select(Payment.customer_id).where(Payment.merchant_uid == bindparam("q")),
    select(Payment.customer_id).where(Payment.imp_uid == bindparam("q")),
    select(Schedule.customer_id).where(Schedule.merchant_uid == bindparam("q")),
)


def exact_customer_ids(q: str) -> set[int]:
    """Return customers whose customer_uid, or a payment's merchant_uid / imp_uid, is ``q``."""
    return {value for value in db.session.scalars(EXACT_CUSTOMER_IDS, {"q": q})
            if value is not None}


@dataclass(frozen=True)
class SearchShape:
    """Which lookups the customer search box's text takes part in: a statement is built once
    per shape, and the text's values are its parameters."""

    exact: bool  # a customer_uid, or a payment's or schedule's uid, matched
    phone: bool  # it reads as the start of a phone number
    tail: bool  # it reads as a phone number's last digits
    # Each prefix's length where its field has an index of that many first characters, or 0.
    name_head: int = 0
    email_head: int = 0
    phone_head: int = 0


def customer_search(q: str) -> tuple[SearchShape, dict]:
    """Return the search's shape and the parameters of ``customer_search_condition``."""
    exact_ids = sorted(exact_customer_ids(q))
    email, digits, phone = q.lower(), phone_digits(q), looks_like_phone(q)
    shape = SearchShape(exact=bool(exact_ids), phone=phone, tail=is_last_digits(q),
                        name_head=head_length("name", q), email_head=head_length("email", email),
                        phone_head=head_length("phone", digits) if phone else 0)
    parameters = {**prefix_parameters("name", q, shape.name_head),
                  # e-mail addresses are stored lowercased
                  **prefix_parameters("email", email, shape.email_head)}
    if shape.exact:
        parameters["exact_ids"] = exact_ids
    if shape.phone:
        parameters.update(prefix_parameters("phone", digits, shape.phone_head))
    if shape.tail:
        parameters["phone_tail"] = q
    return shape, parameters


def customer_search_condition(shape: SearchShape):
    """Return the WHERE condition for the customer search box, for the parameters that
    ``customer_search`` gives."""
    return or_(*customer_search_conditions(shape))


def customer_search_conditions(shape: SearchShape) -> tuple:
    """Return the customer search box's conditions, any of which a customer matches: each has
    an index of its own (``customer_search`` gives their parameters)."""
    conditions = []
    if shape.exact:
        conditions.append(Customer.id.in_(bindparam("exact_ids", expanding=True)))
    conditions.append(prefix_lookup(Customer.name, "name", shape.name_head))
    conditions.append(prefix_lookup(Customer.email, "email", shape.email_head))
    if shape.phone:
        conditions.append(prefix_lookup(Customer.phone, "phone", shape.phone_head))
    if shape.tail:
        conditions.append(Customer.phone_tail == bindparam("phone_tail"))
    return tuple(conditions)


def customer_id_for(reference: str) -> int | None:
    """Resolve a customer filter value: an exact customer_uid, or ``#id``."""
    reference = (reference or "").strip()
    if not reference:
        return None
    if reference.startswith("#") and reference[1:].isdigit():
        return int(reference[1:])
    found = db.session.scalar(select(Customer.id).where(Customer.customer_uid == reference))
    return found if found is not None else -1
