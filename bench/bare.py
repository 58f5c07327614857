"""The floor: one raw keyset query (``sqlite3`` or ``psycopg``) and a 50-row Jinja table.

No Flask, no ORM, no session, no translations: the cost of reading one page of payments with
their customers' names and turning it into HTML. The console's list pages are compared with it
to show what the rest of the stack adds.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

from jinja2 import Environment

PAGE_SIZE = 50

KEYSET_SQL = """
SELECT p.id, p.created_at, p.name, p.merchant_uid, p.imp_uid, p.amount, p.cancel_amount,
       p.status, p.origin, p.attempt, c.id, c.name, c.customer_uid
FROM payment AS p LEFT JOIN customer AS c ON c.id = p.customer_id
{where}
ORDER BY p.created_at DESC, p.id DESC
LIMIT {limit}
"""

TABLE = """<table>
<thead><tr><th>Requested</th><th>Customer</th><th>Order</th><th>Amount</th><th>Refunded</th>
<th>Status</th><th>Origin</th></tr></thead>
<tbody>
{% for p in rows %}<tr>
<td><a href="/payments/{{ p[0] }}">{{ p[1] }}</a></td>
<td><a href="/customers/{{ p[10] }}">{{ p[11] or p[12] }}</a></td>
<td>{{ p[2] }}<br><code>{{ p[3] }}</code> <code>{{ p[4] or "" }}</code></td>
<td>{{ "₩{:,}".format(p[5]) }}</td><td>{{ "₩{:,}".format(p[6]) }}</td>
<td>{{ p[7] }}</td><td>{{ p[8] }} · {{ p[9] }}</td>
</tr>{% endfor %}
</tbody></table>
{% if next_after %}<a href="/payments?after={{ next_after }}">Next page</a>{% endif %}
"""


class BareBaseline:
    """Serve one page of payments straight from the database through one Jinja template.

    The database is the SQLite file, or the PostgreSQL copy of it when ``database_url`` is
    given (then read with plain ``psycopg``).
    """

    def __init__(self, path: Path, database_url: str | None = None):
        if database_url:
            import psycopg

            from .postgres import psycopg_url

            self.connection = psycopg.connect(psycopg_url(database_url), autocommit=True)
            placeholder = "%s"
        else:
            self.connection = sqlite3.connect(path, check_same_thread=False)
            placeholder = "?"
        self.placeholder = placeholder
        self.template = Environment(autoescape=True).from_string(TABLE)
        self.first_sql = KEYSET_SQL.format(where="", limit=PAGE_SIZE + 1)
        self.after_sql = KEYSET_SQL.format(
            where=f"WHERE (p.created_at, p.id) < ({placeholder}, {placeholder})",
            limit=PAGE_SIZE + 1,
        )

    def page(self, after: tuple[str, int] | None = None) -> str:
        """Return the HTML of the page after the (created_at, id) cursor, or the first page."""
        if after is None:
            rows = self.connection.execute(self.first_sql).fetchall()
        else:
            rows = self.connection.execute(self.after_sql, after).fetchall()
        next_after = None
        if len(rows) > PAGE_SIZE:
            rows = rows[:PAGE_SIZE]
            next_after = f"{rows[-1][1]}.{rows[-1][0]}"
        return self.template.render(rows=rows, next_after=next_after)

    def cursor_of_page(self, number: int) -> tuple[str, int] | None:
        """Return the cursor that opens page ``number`` (1 is the first page)."""
        if number <= 1:
            return None
        row = self.connection.execute(
            "SELECT created_at, id FROM payment ORDER BY created_at DESC, id DESC "
            f"LIMIT 1 OFFSET {self.placeholder}", ((number - 1) * PAGE_SIZE - 1,)
        ).fetchone()
        return (row[0], row[1])

    def close(self) -> None:
        self.connection.close()
