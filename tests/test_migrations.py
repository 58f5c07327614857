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
