"""``flask --app dashboard ...`` commands."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_migrate import stamp, upgrade
from sqlalchemy import inspect

from . import staff
from .billing import plans
from .extensions import db


def register(app: Flask) -> None:
    """Attach the dashboard's commands to ``app.cli``."""
    for command in (init_db_command, create_admin_command, add_plan_command):
        app.cli.add_command(command)


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the database schema, or upgrade it to the newest migration."""
    ensure_schema()
    click.echo("Database schema is up to date.")


def ensure_schema() -> None:
    """Bring the schema to the newest migration, whatever state the database is in."""
    tables = set(inspect(db.engine).get_table_names())
    if "alembic_version" not in tables and db.metadata.tables.keys() <= tables:
        # Built by ``create_all`` (tests, early installs): identical to the migrations'
        # result, which a test proves, so record it as current instead of failing.
        stamp()
    else:
        upgrade()


@click.command("create-admin")
@click.option("--email", required=True, help="Sign-in email address.")
@click.option(
    "--role",
    type=click.Choice(["admin", "support", "viewer"]),
    default="admin",
    show_default=True,
)
@click.option("--name", default="", help="Display name (defaults to the email's local part).")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Prompted for when not given.",
)
@with_appcontext
def create_admin_command(email, role, name, password):
    """Create a staff account that can sign in to the dashboard."""
    try:
        user = staff.create_admin(email, password, role=role, name=name)
    except staff.StaffError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created {user.role} {user.email}.")


@click.command("add-plan")
@click.argument("code")
@click.option("--name", required=True, help="Shown to staff and sent to iamport as the order name.")
@click.option("--amount", type=click.IntRange(min=1), required=True, help="Price per period in KRW.")
@click.option("--monthly", "interval", flag_value="monthly", help="Charge once a month.")
@click.option("--every-days", type=click.IntRange(min=1), help="Charge every N days.")
@click.option("--credits", type=click.IntRange(min=0), help="Credits granted per paid period.")
@with_appcontext
def add_plan_command(code, name, amount, interval, every_days, credits):
    """Add a plan to the catalogue."""
    if (interval == "monthly") == (every_days is not None):
        raise click.UsageError("Give exactly one of --monthly or --every-days N.")
    unit, count = ("month", 1) if interval == "monthly" else ("day", every_days)
    try:
        plan = plans.add_plan(
            code,
            name=name,
            amount=amount,
            interval_unit=unit,
            interval_count=count,
            credits_per_period=credits,
        )
    except plans.PlanError as error:
        raise click.ClickException(str(error)) from error
    every = "month" if unit == "month" else f"{count} days"
    click.echo(f"Added plan {plan.code}: {plan.name}, ₩{plan.amount:,} every {every}.")
