"""The database schema: bring any database to the newest migration (and, on PostgreSQL,
create the job queue's tables)."""
from __future__ import annotations

from flask_migrate import stamp, upgrade
from sqlalchemy import inspect

from .billing.tasks import apply_queue_schema
from .extensions import db


def ensure_schema() -> None:
    """Bring the schema to the newest migration, whatever state the database is in."""
    tables = set(inspect(db.engine).get_table_names())
    if "alembic_version" not in tables and db.metadata.tables.keys() <= tables:
        # Built by ``create_all`` (tests, early installs): identical to the migrations'
        # result, which a test proves, so record it as current instead of failing.
        stamp()
    else:
        upgrade()
    apply_queue_schema()


def include_name(name, type_, parent_names) -> bool:
    """Leave the job queue's tables (procrastinate's own schema) out of Alembic's comparison."""
    return not (type_ == "table" and name and name.startswith("procrastinate_"))
