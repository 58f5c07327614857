"""The three contestants, each able to fetch a page: the console, Flask-Admin and the floor.

Each fetch checks once that the page shows what it should (a search found its customer, a
list has rows), so a fast answer cannot be a wrong one.
"""
from __future__ import annotations

import html
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from .data import ADMIN_EMAIL, ADMIN_PASSWORD, ANCHOR, BenchData
from .sqlplan import explain, is_select, recorded_statements, time_alone
from .timing import Statement

CUSTOMER_ROW = re.compile(r'href="/customers/\d+"')


class WrongPage(AssertionError):
    """A page answered, but not with what the measurement expects."""

    def __init__(self, url: str, expected: str, status: int):
        self.url, self.expected, self.status = url, expected, status
        super().__init__(f"{url} answered {status} without {expected!r}")


@dataclass(frozen=True)
class Targets:
    """What the searches look for: one payment in the data and its customer."""

    payment_id: int
    subscription_id: int
    merchant_uid: str
    imp_uid: str
    customer_id: int
    customer_uid: str
    name: str
    name_prefix: str
    email: str
    phone_typed: str
    customer_payments: int
    csv_from: date
    csv_to: date
    csv_month_rows: int


def choose_targets(path: Path) -> Targets:
    """Pick a paid automatic charge 60% of the way through the data and its customer."""
    connection = sqlite3.connect(path)
    try:
        count = connection.execute("SELECT max(id) FROM payment").fetchone()[0]
        payment_id, merchant_uid, imp_uid, customer_id, subscription_id = connection.execute(
            "SELECT id, merchant_uid, imp_uid, customer_id, subscription_id FROM payment"
            " WHERE id >= ?"
            " AND origin = 'schedule' AND imp_uid IS NOT NULL ORDER BY id LIMIT 1",
            (int(count * 0.6),),
        ).fetchone()
        customer_uid, name, email, phone = connection.execute(
            "SELECT customer_uid, name, email, phone FROM customer WHERE id = ?", (customer_id,)
        ).fetchone()
        customer_payments = connection.execute(
            "SELECT count(*) FROM payment WHERE customer_id = ?", (customer_id,)
        ).fetchone()[0]
        # The last whole display-zone (KST) month before the data's "now".
        month_end = ANCHOR.date().replace(day=1) - timedelta(days=1)
        month_start = month_end.replace(day=1)
        kst = timedelta(hours=9)
        since = datetime.combine(month_start, time()) - kst
        until = datetime.combine(month_end + timedelta(days=1), time()) - kst
        month_rows = connection.execute(
            "SELECT count(*) FROM payment WHERE created_at >= ? AND created_at < ?",
            (str(since), str(until)),
        ).fetchone()[0]
    finally:
        connection.close()
    return Targets(
        payment_id=payment_id, subscription_id=subscription_id, merchant_uid=merchant_uid,
        imp_uid=imp_uid,
        customer_id=customer_id, customer_uid=customer_uid, name=name, name_prefix=name[:2],
        email=email, phone_typed=f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
        customer_payments=customer_payments, csv_from=month_start, csv_to=month_end,
        csv_month_rows=month_rows,
    )


class PageClient:
    """Fetch pages of one Flask app through its test client and record their SQL on request."""

    def __init__(self, app):
        from dashboard.extensions import db

        self.app = app
        self.client = app.test_client()
        with app.app_context():
            self.engine = db.engine
        self.checked: set[str] = set()

    def get(self, url: str, expect: str | re.Pattern | None = None) -> str:
        """Return the page's HTML; on the first fetch, make sure it holds ``expect``."""
        response = self.client.get(url)
        if url not in self.checked:
            text = response.get_data(as_text=True)
            found = (expect is None or (expect.search(text) if isinstance(expect, re.Pattern)
                                        else expect in text))
            if response.status_code != 200 or not found:
                raise WrongPage(url, str(expect), response.status_code)
            self.checked.add(url)
            return text
        if response.status_code != 200:
            raise WrongPage(url, "status 200", response.status_code)
        return ""

    def stream_rows(self, url: str, rows: int) -> int:
        """Read a streamed CSV until ``rows`` data rows have arrived; return how many did."""
        response = self.client.get(url, buffered=False)
        if response.status_code != 200:
            raise WrongPage(url, "status 200", response.status_code)
        lines = 0
        try:
            for chunk in response.response:
                lines += chunk.count(b"\n")
                if lines > rows:
                    break
        finally:
            response.close()
        return min(lines - 1, rows)

    def statements_of(self, call) -> list[Statement]:
        """Run ``call`` once and return its SQL statements, slowest first, with their plans.

        Each SELECT is then run again alone and fetched in full, and that time is kept.
        """
        with recorded_statements(self.engine) as statements:
            call()
        for statement in statements:
            if is_select(statement):
                statement.ms = time_alone(self.engine, statement)
        statements.sort(key=lambda statement: statement.ms, reverse=True)
        for statement in statements[:6]:
            statement.plan = explain(self.engine, statement)
        return statements


def console_client(data: BenchData) -> PageClient:
    """Build the dashboard on the benchmark database and sign in as its admin."""
    from dashboard import create_app

    app = create_app({
        "DATABASE_URL": data.url,
        "SECRET_KEY": secrets.token_hex(32),
        "CLOCK": lambda: ANCHOR,
        # Pages never call iamport; an unroutable address makes sure nothing tries.
        "IAMPORT_API_URL": "http://127.0.0.1:9",
    })
    pages = PageClient(app)
    login = pages.client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login)
    if token is None:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login)
    answer = pages.client.post("/login", data={
        "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD,
        "csrf_token": html.unescape(token.group(1)) if token else "",
    })
    if answer.status_code not in (302, 303):
        raise WrongPage("/login", "a redirect after signing in", answer.status_code)
    return pages


def peer_client(data: BenchData) -> PageClient:
    """Build the Flask-Admin peer on the benchmark database."""
    from .peer import create_peer_app

    return PageClient(create_peer_app(data.url))


def next_page_link(page_html: str, path: str = "/payments") -> str:
    """Return the pager's link to the next page."""
    match = re.search(rf'href="({re.escape(path)}\?[^"]*after=[^"]+)"', page_html)
    if match is None:
        raise WrongPage(path, "a next-page link", 200)
    return html.unescape(match.group(1))
