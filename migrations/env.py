"""Alembic environment: runs against the Flask app's database and models."""
import logging

from alembic import context
from flask import current_app

from dashboard.models import UTCDateTime
from dashboard.schema import include_name

config = context.config
logger = logging.getLogger("alembic.env")
db = current_app.extensions["migrate"].db


def render_item(type_, obj, autogen_context):
    """Write our UTC timestamp type as a plain timezone-aware DateTime."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def skip_empty_revisions(context, revision, directives):
    """Do not write a migration when autogenerate finds nothing to change."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_online():
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", skip_empty_revisions)
    options.setdefault("compare_type", True)
    options.setdefault("include_name", include_name)
    with db.engine.connect() as connection:
        options["render_as_batch"] = connection.dialect.name == "sqlite"
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            render_item=render_item,
            **options,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline migrations are not supported; run `flask --app dashboard init-db`.")
run_migrations_online()
