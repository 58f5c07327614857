"""What leaves the app in a CSV: no formula cells, a limit on exports at once, an audit entry."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from dashboard.clock import utcnow
from dashboard.exports import spreadsheet_safe
from dashboard.extensions import db
from dashboard.models import AdminUser, AuditEntry, ExportRun

from .conftest import make_customer, make_payment, make_schedule

HOSTILE_CELLS = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)",
                 "\tcmd", "\rcmd"]


def cells(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


@pytest.mark.parametrize("value", HOSTILE_CELLS)
def test_formula_starts_are_prefixed_with_a_quote(value):
    assert spreadsheet_safe(value) == "'" + value
    assert spreadsheet_safe("김민수") == "김민수" and spreadsheet_safe(-5) == -5


def test_every_export_writes_names_emails_and_order_names_as_text(app, admin_client):
    with app.app_context():
        customer = make_customer(name="=1+1", email="@evil.example", phone="01012345678")
        make_payment(customer, name="+SUM(1)", fail_reason="-bad")
        make_schedule(customer)
    for url in ("/customers.csv", "/payments.csv", "/schedules.csv"):
        body = [cell for row in cells(admin_client.get(url))[1:] for cell in row]
        assert body, url
        risky = [cell for cell in body if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert not risky, (url, risky)
    admin_client.set_cookie("lang", "en")  # English column titles
    payments = cells(admin_client.get("/payments.csv"))
    header, row = payments[0], payments[1]
    assert row[header.index("Order name")] == "'+SUM(1)"
    assert row[header.index("Failure reason")] == "'-bad"
    customers = cells(admin_client.get("/customers.csv"))
    assert "'=1+1" in customers[1]


def test_every_export_is_audited_with_filters_and_rows(app, admin_client):
    with app.app_context():
        customer = make_customer()
        make_payment(customer, status="paid")
        make_payment(customer, status="failed")
    admin_client.get("/payments.csv", query_string={"status": "paid"}).get_data()
    with app.app_context():
        entry = db.session.scalar(db.select(AuditEntry).where(
            AuditEntry.action == "export.download"))
        assert entry.actor_label == "admin@example.com" and entry.ip_address == "127.0.0.1"
        assert entry.target_id == "payments"
        assert entry.details == {"filters": {"status": "paid"}, "rows": 1}
        assert db.session.scalar(db.select(ExportRun.finished_at)) is not None


def running_export(email: str, **extra) -> ExportRun:
    user_id = db.session.scalar(db.select(AdminUser.id).where(AdminUser.email == email))
    run = ExportRun(user_id=user_id, kind="payments", **extra)
    db.session.add(run)
    db.session.commit()
    return run


def test_an_export_is_recorded_as_running_while_it_streams(app, admin_client):
    with app.app_context():
        make_payment(make_customer())
    response = admin_client.get("/payments.csv", buffered=False)
    chunks = iter(response.response)
    next(chunks)
    with app.app_context():
        run = db.session.scalar(db.select(ExportRun))
        assert run.finished_at is None
    response.close()
    with app.app_context():
        db.session.expire_all()
        assert db.session.scalar(db.select(ExportRun.finished_at)) is not None
        assert db.session.scalar(db.select(AuditEntry.outcome).where(
            AuditEntry.action == "export.download")) == "interrupted"


def test_at_most_two_exports_run_at_once_per_user(app, staff, admin_client, as_role):
    with app.app_context():
        make_payment(make_customer())
        first = running_export(staff["admin"]).id
        running_export(staff["admin"])
        # One left behind by a worker that died long ago no longer counts.
        running_export(staff["admin"], started_at=utcnow() - timedelta(hours=2))
    refused = admin_client.get("/schedules.csv")
    assert refused.status_code == 429
    assert "2" in refused.get_data(as_text=True)
    # Another member of staff is not held up.
    assert as_role("support").get("/schedules.csv").status_code == 200
    with app.app_context():
        db.session.get(ExportRun, first).finished_at = utcnow()
        db.session.commit()
    assert admin_client.get("/schedules.csv").status_code == 200
    with app.app_context():
        assert db.session.scalar(db.select(AuditEntry.outcome).where(
            AuditEntry.action == "export.refused")) == "refused"
