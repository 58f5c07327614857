"""``flask --app dashboard ...`` commands."""
from __future__ import annotations

from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import api_tokens, attention, rollups, staff
from .billing import audit, charges, errors, intake, plans, sync
from .config import billing_mode
from .models import API_SCOPES
from .schema import ensure_schema


def register(app: Flask) -> None:
    """Attach the dashboard's commands to ``app.cli``."""
    for command in (
        init_db_command,
        create_admin_command,
        add_plan_command,
        subscribe_command,
        charge_due_command,
        sync_command,
        create_api_token_command,
        revoke_api_token_command,
        worker_command,
        rebuild_rollups_command,
    ):
        app.cli.add_command(command)


@click.command("init-db")
@with_appcontext
def init_db_command():
    """Create the database schema, or upgrade it to the newest migration."""
    ensure_schema()
    click.echo("Database schema is up to date.")


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
@click.option("--amount", type=click.IntRange(min=1), required=True,
              help="Price per period in KRW.")
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


@click.command("subscribe")
@click.argument("customer_uid")
@click.option("--plan", "plan_code", required=True, help="Plan code (see add-plan).")
@click.option("--start", "start_at", help="First charge time, ISO 8601 with an offset.")
@click.option("--charge-now", is_flag=True, help="Charge the first period immediately.")
@with_appcontext
def subscribe_command(customer_uid, plan_code, start_at, charge_now):
    """Start a subscription on an existing iamport billing key."""
    start = parse_aware_datetime(start_at) if start_at else None
    try:
        subscription = intake.start_subscription(
            customer_uid, plan_code=plan_code, start_at=start, charge_now=charge_now,
            actor=audit.CLI,
        )
    except errors.BillingError as error:
        raise click.ClickException(error.message) from error
    when = subscription.next_attempt_at or subscription.current_period_end
    click.echo(
        f"Subscription {subscription.id} for {customer_uid} on {plan_code}: "
        f"{subscription.status}, period {subscription.current_period}, "
        f"next charge {when:%Y-%m-%d %H:%M %Z}."
    )


def parse_aware_datetime(value: str) -> datetime:
    """Parse ISO 8601 with a UTC offset; refuse times without one."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time.") from error
    if parsed.tzinfo is None:
        raise click.BadParameter("Give the time with an offset, e.g. 2026-12-01T09:00+09:00.")
    return parsed


@click.command("charge-due")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@with_appcontext
def charge_due_command(limit):
    """Charge due subscriptions with `again` (again mode); safe on several hosts at once."""
    if billing_mode() != "again":
        click.echo(
            "BILLING_MODE is 'schedule': iamport runs the registered schedules; nothing to do."
        )
        return
    summary = charges.charge_due(limit=limit)
    click.echo(
        f"charged {len(summary.charged)}, declined {len(summary.declined)}, "
        f"unknown {len(summary.unknown)}, errors {len(summary.errors)}"
    )
    for line in summary.errors:
        click.echo(f"  error: {line}", err=True)
    if summary.unknown:
        click.echo("Charges with an unknown outcome are resolved by `sync`.", err=True)


@click.command("sync")
@click.option("--days", type=click.IntRange(min=1, max=365), default=3, show_default=True)
@with_appcontext
def sync_command(days):
    """Reconcile with iamport: apply missed results and resolve unknown outcomes."""
    with click.progressbar(length=0, label="sync", show_pos=True) as bar:

        def progress(phase: str, done: int) -> None:
            bar.label = f"sync: {phase}"
            bar.update(1)

        summary = sync.run_sync(days, actor=audit.CLI, progress=progress)
    click.echo(
        f"fetched {summary.fetched}, changed {summary.changed}, resolved {summary.resolved}, "
        f"errors {len(summary.errors)}"
    )
    for line in summary.errors:
        click.echo(f"  error: {line}", err=True)
    if summary.errors:
        raise SystemExit(1)


@click.command("create-api-token")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(API_SCOPES),
              default=API_SCOPES, show_default=True, help="What the token may do (repeatable).")
@with_appcontext
def create_api_token_command(name, scopes):
    """Create a token for the merchant's application; it is shown once, only its hash is kept."""
    try:
        token = api_tokens.create_token(name, actor=audit.CLI, scopes=scopes)
    except api_tokens.TokenError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"API token {name!r} (store it now, it is not shown again):")
    click.echo(token)


@click.command("revoke-api-token")
@click.argument("name")
@with_appcontext
def revoke_api_token_command(name):
    """Stop the API tokens with this name from working."""
    revoked = api_tokens.revoke_tokens(name, actor=audit.CLI)
    if not revoked:
        raise click.ClickException(f"No live API token is named {name!r}.")
    click.echo(f"Revoked {revoked} API token(s) named {name!r}.")


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Jobs run at once (each in its own thread).")
@click.option("--queue", "queues", multiple=True, type=click.Choice(["webhooks", "periodic"]),
              help="Only these queues (repeatable) [default: both].")
@click.option("--name", default=None, help="Worker name shown in the logs.")
@click.option("--delete-jobs", type=click.Choice(["successful", "always", "never"]),
              default="successful", show_default=True, help="Which finished jobs to delete.")
@with_appcontext
def worker_command(concurrency, queues, name, delete_jobs):
    """Process webhooks and run the periodic jobs (PostgreSQL); run any number, on any host."""
    from .billing import tasks

    if not current_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        raise click.ClickException(
            "The worker needs PostgreSQL (DATABASE_URL). With SQLite the web process "
            "processes webhooks itself."
        )
    click.echo("Worker started: webhooks, sync every 5 min, charge-due every minute "
               "(again mode), resume every 10 min, sweep every minute.")
    tasks.run_worker(current_app._get_current_object(), concurrency=concurrency, name=name,
                     delete_jobs=delete_jobs, queues=list(queues) or None)


# --- commands that build their own apps ------------------------------------------------------
# `sandbox` (and `demo`, in demo.py) are registered as Flask CLI plugins (pyproject entry
# points), so they run without loading the configured dashboard: the sandbox needs none.


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5099, show_default=True)
@click.option("--imp-key", default=None, help="REST API key it accepts [default: sandbox_key].")
@click.option("--imp-secret", default=None,
              help="REST API secret it accepts [default: sandbox_secret].")
@click.option("--state-file", type=click.Path(dir_okay=False), help="Keep state in this file.")
@click.option("--webhook-url", help="Where to post webhooks (also settable at /_sandbox/webhook).")
@click.option("--run-schedules/--no-run-schedules", default=True, show_default=True,
              help="Run due schedules in real time.")
def sandbox_command(host, port, imp_key, imp_secret, state_file, webhook_url, run_schedules):
    """Run the iamport V1 API sandbox alone over HTTP."""
    from .iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, create_sandbox_app
    from .iamport.sandbox.server import serve

    app = create_sandbox_app(
        imp_key or DEFAULT_IMP_KEY,
        imp_secret or DEFAULT_IMP_SECRET,
        state_path=state_file,
        webhook_url=webhook_url,
        start_runner=run_schedules,
    )
    click.echo(f"iamport V1 sandbox on http://{host}:{port} (control API at /_sandbox)")
    serve(host, port, app)


@click.command("rebuild-rollups")
@with_appcontext
def rebuild_rollups_command():
    """Recount the overview's daily and per-plan figures, its attention list and each
    customer's subscriptions by state and plan from the raw rows."""
    figures = rollups.rebuild()
    attention.repair()
    days = {key for kind, key, _column in figures if kind == "day"}
    click.echo(f"Rollups rebuilt: {len(days)} days, "
               f"{figures_total(figures, 'active_count')} active subscriptions.")


def figures_total(figures, column: str) -> int:
    return sum(value for (_kind, _key, name), value in figures.items() if name == column)
