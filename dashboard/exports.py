"""CSV exports: at most a few at once per staff member (on every host), each one audited.

Like the billing services, these functions own their transaction.
"""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import func

from .billing import audit
from .clock import utcnow
from .extensions import db
from .models import AdminUser, ExportRun

# An export still "running" after this long belonged to a worker that died; it stops counting.
STALE_AFTER = timedelta(hours=1)
# Characters that make a spreadsheet read a cell as a formula (CSV injection).
FORMULA_STARTS = frozenset("=+-@\t\r")


class TooManyExports(Exception):
    """The staff member already has the maximum number of exports running."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"at most {limit} exports at once")


def csv_cells(row: list) -> list:
    """Return what the CSV holds for one row: empty for None, and text a spreadsheet shows
    as text, never runs as a formula. One comprehension: it runs for every cell of every row."""
    return ["" if value is None
            else "'" + value if isinstance(value, str) and value[:1] in FORMULA_STARTS
            else value
            for value in row]


def spreadsheet_safe(value: object) -> object:
    """Return one cell as ``csv_cells`` writes it."""
    return csv_cells([value])[0]


def start_export(kind: str, filters: dict, *, actor: audit.Actor) -> int:
    """Record an export as running and return its id; refuse a third at once."""
    limit = int(current_app.config["MAX_CONCURRENT_EXPORTS"])
    # Locking the user's row makes two simultaneous starts count one after the other.
    db.session.scalar(
        db.select(AdminUser.id).where(AdminUser.id == actor.user_id).with_for_update()
    )
    running = db.session.scalar(
        db.select(func.count(ExportRun.id)).where(
            ExportRun.user_id == actor.user_id, ExportRun.finished_at.is_(None),
            ExportRun.started_at > utcnow() - STALE_AFTER,
        )
    )
    if running >= limit:
        audit.record("export.refused", "export", kind, actor=actor, outcome="refused",
                     details={"filters": filters, "running": running})
        db.session.commit()
        raise TooManyExports(limit)
    run = ExportRun(user_id=actor.user_id, kind=kind)
    db.session.add(run)
    db.session.commit()
    return run.id


def finish_export(run_id: int, kind: str, filters: dict, rows: int, *, complete: bool,
                  actor: audit.Actor) -> None:
    """Mark an export finished and audit who exported what, with which filters, how many rows."""
    run = db.session.get(ExportRun, run_id)
    run.finished_at, run.rows = utcnow(), rows
    audit.record("export.download", "export", kind, actor=actor,
                 outcome="ok" if complete else "interrupted",
                 details={"filters": filters, "rows": rows})
    db.session.commit()
