"""Fixtures shared by every test: an app on a fresh database, its client and CLI runner.

The iamport sandbox every package uses is ``tests.harness.Sandbox`` (fixture ``sandbox``).

Tests run on SQLite by default. Set ``TEST_DATABASE_URL`` (for example
``postgresql://postgres@127.0.0.1/test``) to run the same suite on PostgreSQL; tests marked
``postgres`` need it and are skipped without it. With ``DASHBOARD_FORBID_SKIPS=1`` (CI) a
skipped test fails instead, so a missing server or browser cannot pass unnoticed.
"""
from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from dashboard import create_app
from dashboard.billing.tasks import apply_queue_schema
from dashboard.extensions import db
from tests.harness import Sandbox, dashboard_config

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
FORBID_SKIPS = os.environ.get("DASHBOARD_FORBID_SKIPS") == "1"


def on_postgres() -> bool:
    return TEST_DATABASE_URL.startswith(("postgres://", "postgresql"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """The database every test in this run uses, emptied between tests."""
    if TEST_DATABASE_URL:
        return TEST_DATABASE_URL
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


@pytest.fixture(scope="session")
def schema_ready(database_url):
    """Create the schema once per run (the migrations test proves it equals the migrations)."""
    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "SECRET_KEY": "test"})
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        db.create_all()
        apply_queue_schema()  # procrastinate's tables, on PostgreSQL only
        db.session.remove()
        db.engine.dispose()
    return database_url


def empty_all_tables() -> None:
    tables = list(reversed(db.metadata.sorted_tables))
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(table.name for table in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # The job queue's jobs name event ids, which restart here.
        db.session.execute(text("TRUNCATE procrastinate_jobs, procrastinate_periodic_defers "
                                "RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def app_config(schema_ready) -> dict:
    """Configuration for the ``app`` fixture; override in a module to change it."""
    return dashboard_config(schema_ready)


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        empty_all_tables()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def sandbox() -> Sandbox:
    """A fresh iamport sandbox in process (``tests.harness``); wire it with ``app_config``."""
    return Sandbox()


def pytest_collection_modifyitems(config, items):
    if on_postgres():
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if FORBID_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but DASHBOARD_FORBID_SKIPS=1 forbids skips: {report.longrepr}"
