"""CSV cells: text a spreadsheet would run as a formula is kept as text; chunks lose no row."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.exports import csv_cells
from dashboard.views.common import CSV_CHUNK_ROWS

from .conftest import make_customer, make_payment

BASE = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["=1+2", "+82 10", "-5", "@SUM(A1)", "\tx", "\rx",
                                   '=HYPERLINK("http://evil.test")'])
def test_a_cell_starting_like_a_formula_is_prefixed(value):
    assert csv_cells([value]) == ["'" + value]


@pytest.mark.parametrize(("value", "expected"), [
    (None, ""), ("김민수", "김민수"), ("a=b", "a=b"), (-5000, -5000), (0, 0), ("", ""),
])
def test_other_cells_are_written_as_they_are(value, expected):
    assert csv_cells([value]) == [expected]


def test_payments_export_escapes_and_streams_every_row_in_chunks(app, admin_client):
    count = CSV_CHUNK_ROWS * 2 + 3
    with app.app_context():
        customer = make_customer(name="=cmd|' /C calc'!A0")
        for n in range(count):
            make_payment(customer, 1000, "failed", created_at=BASE + timedelta(seconds=n),
                         merchant_uid=f"m-{n:04d}", name="@risky" if n == 0 else "basic",
                         fail_reason="-declined")
    admin_client.set_cookie("lang", "en")  # English column titles
    response = admin_client.get("/payments.csv")
    chunks = list(response.response)
    body = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in chunks)
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == count
    assert [row["merchant_uid"] for row in rows] == [f"m-{n:04d}" for n in reversed(range(count))]
    assert rows[-1]["Order name"] == "'@risky" and rows[0]["Order name"] == "basic"
    assert {row["Failure reason"] for row in rows} == {"'-declined"}
    # Header, then whole chunks of rows, not one response chunk per row.
    assert len(chunks) <= 1 + count // CSV_CHUNK_ROWS + 1
    customers = admin_client.get("/customers.csv").get_data().decode("utf-8-sig")
    assert "'=cmd|' /C calc'!A0" in customers
