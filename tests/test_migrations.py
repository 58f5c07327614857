"""The migrations build exactly the schema the models describe."""
import warnings

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import Column, bindparam, text
from sqlalchemy.schema import CreateIndex

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
            with warnings.catch_warnings():
                # SQLite's reflection skips indexes on expressions: compared below instead.
                warnings.filterwarnings("ignore", "Skipped unsupported reflection")
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified")
                differences = compare_metadata(context, db.metadata)
        assert differences == []
        if db.engine.dialect.name == "sqlite":
            assert sqlite_expression_indexes() == expression_indexes_of_models()
        # The migrated schema is the one the rest of the run uses.
        tables = set(db.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables


def expression_indexes_of_models() -> dict[str, str]:
    """Return the CREATE INDEX statement of every index on an expression in the models."""
    return {index.name: str(CreateIndex(index).compile(db.engine))
            for table in db.metadata.tables.values() for index in table.indexes
            if any(not isinstance(part, Column) for part in index.expressions)}


def sqlite_expression_indexes() -> dict[str, str]:
    """Return the CREATE INDEX statement SQLite stored for each index the models put on an
    expression."""
    return dict(db.session.execute(
        text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN :names")
        .bindparams(bindparam("names", expanding=True)),
        {"names": list(expression_indexes_of_models())}).all())


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


def test_upgrading_counts_the_subscriptions_already_stored_for_the_customer_filters(app):
    """``0010`` fills the customers' subscription counts from the subscriptions a database
    already holds, as the rollups count them: the customers list's filters find them at once."""
    from datetime import UTC, datetime, timedelta

    from flask_migrate import downgrade

    from dashboard import rollups
    from dashboard.models import Customer, Plan, Subscription

    with app.app_context():
        now = datetime.now(UTC)
        basic = Plan(code="basic", name="베이직", amount=9900)
        pro = Plan(code="pro", name="프로", amount=29900)
        first = Customer(customer_uid="cust_1", name="김연체", created_at=now - timedelta(days=2))
        second = Customer(customer_uid="cust_2", name="이정상", created_at=now - timedelta(days=1))
        db.session.add_all([basic, pro, first, second])
        db.session.flush()
        for customer, plan, status in ((first, basic, "past_due"), (first, pro, "past_due"),
                                       (first, basic, "cancelled"), (second, pro, "active")):
            db.session.add(Subscription(
                customer_id=customer.id, plan_id=plan.id, status=status, current_period=1,
                current_period_start=now, current_period_end=now + timedelta(days=30),
                next_charge_at=now + timedelta(days=30)))
        first_id, second_id, basic_id, pro_id = first.id, second.id, basic.id, pro.id
        db.session.commit()
        db.session.remove()  # no transaction of ours may hold a lock the migration waits for

        downgrade(revision="0009_filter_indexes")
        upgrade()
        db.session.expire_all()
        counted = {key[:3]: value for (kind, key, _column), value in rollups.stored().items()
                   if kind == "customer"}
        assert counted == {
            (first_id, "past_due", basic_id): 1, (first_id, "past_due", pro_id): 1,
            (first_id, "cancelled", basic_id): 1, (first_id, "past_due", 0): 2,
            (first_id, "cancelled", 0): 1, (first_id, "", basic_id): 2, (first_id, "", pro_id): 1,
            (second_id, "active", pro_id): 1, (second_id, "active", 0): 1,
            (second_id, "", pro_id): 1,
        }
        assert rollups.stored() == rollups.recount()
