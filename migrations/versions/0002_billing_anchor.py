"""billing anchor: the local start every period end is counted from

Revision ID: 0002_billing_anchor
Revises: 0001
Create Date: 2026-12-06 11:10:00

Existing subscriptions get the local date and time (DISPLAY_TIMEZONE) of their current
period's start, or of their creation when no period was paid yet.
"""
from datetime import UTC
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002_billing_anchor"
down_revision = "0004_rollups"
branch_labels = None
depends_on = None


def display_zone() -> ZoneInfo:
    try:
        from flask import current_app

        name = current_app.config.get("DISPLAY_TIMEZONE")
    except RuntimeError:  # run outside the app (plain alembic)
        name = None
    return ZoneInfo(name or "Asia/Seoul")


def upgrade():
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("billing_anchor", sa.DateTime(timezone=False), nullable=True))
    subscription = sa.table(
        "subscription",
        sa.column("id", sa.Integer),
        sa.column("current_period_start", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("billing_anchor", sa.DateTime(timezone=False)),
    )
    connection = op.get_bind()
    zone = display_zone()
    rows = connection.execute(
        sa.select(subscription.c.id, subscription.c.current_period_start,
                  subscription.c.created_at)
    ).all()
    for row_id, period_start, created_at in rows:
        start = period_start or created_at
        if start is None:
            continue
        if start.tzinfo is None:  # SQLite keeps UTC without a zone
            start = start.replace(tzinfo=UTC)
        anchor = start.astimezone(zone).replace(tzinfo=None, microsecond=0)
        connection.execute(
            subscription.update().where(subscription.c.id == row_id)
            .values(billing_anchor=anchor)
        )


def downgrade():
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("billing_anchor")
