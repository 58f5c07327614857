"""filter indexes carry the lists' order: subscriptions by status, payments by origin,
refunded payments, audit entries by action and by actor, each with (created_at, id)

Revision ID: 0009_filter_indexes
Revises: 0008_customer_search_indexes
Create Date: 2026-12-07 16:10:00

A list filtered by a rare value (paused subscriptions, manual charges, partly refunded
payments, one staff member's actions) read the whole list newest first to find a page of
matches. With the value first and the list's order after it, the page is read from the
index; refunded payments (about 2%) have a partial index of their own.

On PostgreSQL the indexes are built and dropped ``CONCURRENTLY``: the tables stay writable
while they build.
"""
from contextlib import nullcontext

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_filter_indexes"
down_revision = "0008_customer_search_indexes"
branch_labels = None
depends_on = None

REFUNDED = sa.text("cancel_amount > 0")
INDEXES = [
    ("ix_subscription_status_time", "subscription", ["status", "created_at", "id"], None),
    ("ix_payment_origin_time", "payment", ["origin", "created_at", "id"], None),
    ("ix_payment_refunded_time", "payment", ["created_at", "id"], REFUNDED),
    ("ix_audit_entry_action_time", "audit_entry", ["action", "created_at", "id"], None),
    ("ix_audit_entry_actor_time", "audit_entry", ["actor_label", "created_at", "id"], None),
]


def concurrently():
    """Run in autocommit on PostgreSQL: CONCURRENTLY cannot run inside a transaction."""
    postgres = op.get_bind().dialect.name == "postgresql"
    return (op.get_context().autocommit_block() if postgres else nullcontext()), postgres


def upgrade():
    block, postgres = concurrently()
    with block:
        for name, table, columns, where in INDEXES:
            op.create_index(name, table, columns, unique=False, postgresql_concurrently=postgres,
                            sqlite_where=where, postgresql_where=where)


def downgrade():
    block, postgres = concurrently()
    with block:
        for name, table, _columns, _where in INDEXES:
            op.drop_index(name, table_name=table, postgresql_concurrently=postgres)
