"""The management commands: init-db, create-admin, add-plan."""
import pytest
from sqlalchemy import inspect

from dashboard import create_app
from dashboard.extensions import db
from dashboard.models import AdminUser, AuditEntry, Plan


def test_init_db_is_idempotent(runner, app):
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert "up to date" in result.output
    with app.app_context():
        assert "alembic_version" in inspect(db.engine).get_table_names()


def test_init_db_creates_an_empty_database(tmp_path):
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": f"sqlite:///{tmp_path}/n.db"}
    )
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {"customer", "payment", "schedule", "webhook_event", "alembic_version"} <= tables
        db.engine.dispose()


def test_create_admin_with_password(runner, app):
    result = runner.invoke(
        args=["create-admin", "--email", "Ops@Example.com", "--role", "support",
              "--password", "correct horse battery"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(db.select(AdminUser))
        assert user.email == "ops@example.com"
        assert user.role == "support"
        assert user.check_password("correct horse battery")
        assert "correct horse" not in user.password_hash
        entry = db.session.scalar(db.select(AuditEntry))
        assert (entry.action, entry.actor_label) == ("staff.create", "cli")


def test_create_admin_prompts_for_the_password(runner, app):
    result = runner.invoke(
        args=["create-admin", "--email", "a@example.com"],
        input="long enough secret\nlong enough secret\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(db.select(AdminUser.role)) == "admin"


def test_create_admin_refuses_a_weak_password(runner, app):
    result = runner.invoke(
        args=["create-admin", "--email", "a@example.com", "--password", "short"]
    )
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(AdminUser.id))) == 0


def test_create_admin_refuses_a_duplicate_email(runner, app):
    args = ["create-admin", "--email", "a@example.com", "--password", "0123456789"]
    assert runner.invoke(args=args).exit_code == 0
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_create_admin_refuses_an_unknown_role(runner):
    result = runner.invoke(
        args=["create-admin", "--email", "a@example.com", "--role", "owner",
              "--password", "0123456789"]
    )
    assert result.exit_code == 2
    assert "owner" in result.output


def test_add_monthly_plan(runner, app):
    result = runner.invoke(
        args=["add-plan", "basic", "--name", "베이직 월간", "--amount", "9900", "--monthly",
              "--credits", "100"]
    )
    assert result.exit_code == 0, result.output
    assert "₩9,900" in result.output
    with app.app_context():
        plan = db.session.scalar(db.select(Plan))
        assert (plan.code, plan.amount, plan.interval_unit, plan.interval_count) == (
            "basic", 9900, "month", 1
        )
        assert plan.credits_per_period == 100


def test_add_plan_every_n_days(runner, app):
    result = runner.invoke(
        args=["add-plan", "weekly", "--name", "주간", "--amount", "2900", "--every-days", "7"]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        plan = db.session.scalar(db.select(Plan))
        assert (plan.interval_unit, plan.interval_count, plan.credits_per_period) == (
            "day", 7, None
        )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--name", "x", "--amount", "100"], "exactly one of --monthly or --every-days"),
        (["--name", "x", "--amount", "100", "--monthly", "--every-days", "3"], "exactly one"),
        (["--name", "x", "--amount", "0", "--monthly"], "0 is not in the range"),
        (["--name", "x", "--amount", "abc", "--monthly"], "is not a valid integer"),
        (["--name", "x", "--amount", "100", "--every-days", "0"], "0 is not in the range"),
        (["--name", "x" * 41, "--amount", "100", "--monthly"], "1 to 40 characters"),
        (["--amount", "100", "--monthly"], "Missing option '--name'"),
    ],
)
def test_add_plan_rejects_bad_arguments(runner, app, args, message):
    result = runner.invoke(args=["add-plan", "p1", *args])
    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Plan.id))) == 0


def test_add_plan_refuses_a_duplicate_code(runner):
    args = ["add-plan", "basic", "--name", "x", "--amount", "100", "--monthly"]
    assert runner.invoke(args=args).exit_code == 0
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "already exists" in result.output
