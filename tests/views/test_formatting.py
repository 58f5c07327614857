"""Money, times and zones as staff read and type them."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from markupsafe import Markup, escape

from dashboard import formatting


def test_money_in_won():
    assert formatting.won(9900) == "₩9,900"
    assert formatting.won(0) == "₩0"
    assert formatting.won(-1000) == "-₩1,000"
    assert formatting.won(1234567) == "₩1,234,567"
    assert formatting.won(None) == ""


@pytest.mark.parametrize("value", [
    "<script>alert('x')</script>", 'a "quoted" & <b>', "김민수", "", None, 9900,
    Markup("<b>already safe</b>"), formatting.lazy_gettext("Refund"),
])
def test_escape_text_escapes_as_escape_does(app, value):
    """The list rows' escaping writes what markupsafe's escape writes, as a plain str."""
    with app.test_request_context():
        assert formatting.escape_text(value) == str(escape(value))
        assert type(formatting.escape_text(value)) is str


def test_times_show_in_kst_with_the_zone(app):
    moment = datetime(2026, 11, 27, 4, 5, 9, tzinfo=UTC)
    with app.app_context():
        assert formatting.local_time(moment) == "2026-11-27 13:05 KST"
        assert formatting.local_time(moment, with_seconds=True) == "2026-11-27 13:05:09 KST"
        assert formatting.iso_local(moment) == "2026-11-27T13:05:09+09:00"
        assert formatting.local_date(datetime(2026, 11, 27, 16, 0, tzinfo=UTC)) == "2026-11-28"


def test_typed_times_are_read_in_kst_and_returned_as_utc(app):
    with app.app_context():
        typed = datetime(2026, 12, 1, 9, 0)
        assert formatting.from_local(typed) == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
        assert formatting.day_start(datetime(2026, 12, 1).date()) == datetime(
            2026, 11, 30, 15, 0, tzinfo=UTC)


def test_other_display_zone(app_config):
    from dashboard import create_app

    app = create_app({**app_config, "DISPLAY_TIMEZONE": "America/New_York"})
    with app.app_context():
        moment = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
        assert formatting.local_time(moment) == "2026-07-01 12:00 EDT"


@pytest.mark.parametrize("zone", [
    "Asia/Seoul", "America/New_York", "Europe/London", "Asia/Kolkata", "Asia/Kathmandu",
    "Australia/Lord_Howe", "America/Goose_Bay",
])
def test_csv_minutes_of_stored_text_match_the_zone_at_every_minute(zone):
    """SQLite's stored UTC text becomes the same cell as the time itself would, minute by
    minute through 2026's clock changes. Seoul, New York and London are whole hours from UTC
    (and change at whole UTC hours); Kolkata and Kathmandu are not; Lord Howe's clocks move
    by half an hour, at half past a UTC hour; Goose Bay's moved an hour at one minute past
    one in 1990."""
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    stored_minutes = formatting.csv_minutes_of_stored(ZoneInfo(zone))
    csv_time = formatting.csv_time_in(ZoneInfo(zone))
    days = [datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 29, tzinfo=UTC),
            datetime(2026, 4, 4, tzinfo=UTC), datetime(2026, 10, 3, tzinfo=UTC),
            datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC),
            datetime(1990, 4, 1, tzinfo=UTC), datetime(1990, 10, 28, tzinfo=UTC)]
    for day in days:
        for minute in range(24 * 60):
            moment = day + timedelta(minutes=minute, seconds=41, microseconds=7)
            stored = moment.replace(tzinfo=None).isoformat(" ")  # as SQLite keeps it
            assert stored_minutes(stored) == csv_time(moment), (zone, stored)
    assert stored_minutes(None) is None


@pytest.mark.parametrize(("zone", "named"), [
    ("Asia/Seoul", "KST"), ("Asia/Kolkata", "IST"), ("UTC", "UTC"),
    ("America/New_York", "America/New_York"), ("Europe/London", "Europe/London"),
])
def test_a_column_of_times_names_its_zone(zone, named):
    """By the abbreviation a zone keeps all year; a zone whose clocks change, by its name."""
    from zoneinfo import ZoneInfo

    assert formatting.zone_label(ZoneInfo(zone)) == named


def test_pages_show_won_and_kst(app, admin_client):
    from .conftest import make_customer, make_payment

    with app.app_context():
        make_payment(make_customer(), 9900, created_at=datetime(2026, 11, 27, 4, 5, tzinfo=UTC))
    html = admin_client.get("/payments").get_data(as_text=True)
    assert "₩9,900" in html and "2026-11-27 13:05 KST" in html


def recorded_actions(package) -> set[str]:
    """Return the audited actions ``package``'s source names as a literal: the first string
    argument of ``record``/``restart_billing`` calls, or an ``action=`` keyword."""
    import ast

    actions = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            values = [keyword.value for keyword in node.keywords if keyword.arg == "action"]
            if name in ("record", "restart_billing"):
                values += node.args[:2]
            actions |= {value.value for value in values if isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                        and re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", value.value)}
    return actions


def test_every_label_has_a_korean_translation(app):
    """The compiled catalogue translates every message the console uses."""
    from pathlib import Path

    from babel.messages.mofile import read_mo

    path = Path(app.root_path) / "translations" / "ko" / "LC_MESSAGES" / "messages.mo"
    with path.open("rb") as compiled:
        catalog = read_mo(compiled)
    untranslated = [m.id for m in catalog if m.id and not m.string]
    assert untranslated == []
    # Every code the database stores (statuses, outcomes, audited actions) has a label, and
    # every label is in the catalogue.
    from dashboard import formatting

    outcomes = {"ok", "requested", "rejected", "unknown", "unavailable", "attention", "failed",
                "errors"}
    assert outcomes <= formatting.OUTCOME_LABELS.keys()
    labels = [label for table in formatting.LABELS.values() for label in table.values()]
    missing = [label._args[0] for label in labels if not catalog.get(label._args[0])]
    assert missing == []
    # Every action the console records has a label (the timeline's words, the audit log's
    # filter choices): each action named in the source, in a call or as ``action=``.
    recorded = recorded_actions(Path(app.root_path))
    assert {"payment.refund", "plan.create", "staff.sign_in"} <= recorded
    assert recorded <= formatting.ACTION_LABELS.keys()
    assert catalog.get("Partially refunded").string == "부분환불"
