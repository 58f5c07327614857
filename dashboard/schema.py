"""The database schema: bring any database to the newest migration."""
from __future__ import annotations

from flask_migrate import stamp, upgrade
from sqlalchemy import inspect

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
