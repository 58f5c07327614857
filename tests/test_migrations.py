"""The migrations build exactly the schema the models describe."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import text

from dashboard.extensions import db
from dashboard.schema import include_name


def test_migrations_match_the_models(app):
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": include_name}
            )
            differences = compare_metadata(context, db.metadata)
        assert differences == []
        # The migrated schema is the one the rest of the run uses.
        tables = set(db.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables


# Released revisions are never edited: a schema change is a new revision on top of them.
RELEASED = {
    "0001_initial_schema.py":
        "e435feb0871195c2d960659f2f92e231d0f80936a2e1e227c1fe0f85150351c1",
}


def test_released_migrations_are_never_edited():
    import hashlib
    from pathlib import Path

    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    for name, digest in RELEASED.items():
        assert hashlib.sha256((versions / name).read_bytes()).hexdigest() == digest, name


def test_revisions_form_one_line():
    """The revisions have one head (a second would make ``init-db`` ambiguous)."""
    from alembic.script import ScriptDirectory

    from dashboard.config import PROJECT_ROOT

    script = ScriptDirectory(str(PROJECT_ROOT / "migrations"))
    assert len(script.get_heads()) == 1
