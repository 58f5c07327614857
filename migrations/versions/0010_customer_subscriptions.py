"""customer_subscription_rollup: how many of each customer's subscriptions are in each state
and on each plan, for the customers list's filters

Revision ID: 0010_customer_subscriptions
Revises: 0009_filter_indexes
Create Date: 2026-12-07 18:30:00

The customers list filtered by a subscription state or plan read the customers newest first,
asking of each whether it had such a subscription, until a page matched: past-due customers
are few among the newest, so the page read thousands. Each customer's counts now carry its
``created_at``, and the page is read from their index in the list's order.

The table is filled here from the subscriptions already stored; from then on every change of a
subscription's state or plan keeps it current in its own transaction. If the previous version
kept changing subscriptions while this ran, ``flask --app dashboard rebuild-rollups`` counts
them again.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010_customer_subscriptions"
down_revision = "0009_filter_indexes"
branch_labels = None
depends_on = None

COUNTS_SUBSCRIPTIONS = sa.text("subscriptions > 0")

# One row per (customer, state, plan), per (customer, state) with plan 0 for any plan, and per
# (customer, plan) with the state '' for any state: what ``rollups.subscription_figures`` counts.
FILL = """
INSERT INTO customer_subscription_rollup
    (customer_id, status, plan_id, customer_created_at, subscriptions)
SELECT s.customer_id, {status}, {plan_id}, c.created_at, count(*)
FROM subscription AS s JOIN customer AS c ON c.id = s.customer_id
GROUP BY s.customer_id, {group}, c.created_at
"""
GROUPINGS = [
    {"status": "s.status", "plan_id": "s.plan_id", "group": "s.status, s.plan_id"},
    {"status": "s.status", "plan_id": "0", "group": "s.status"},
    {"status": "''", "plan_id": "s.plan_id", "group": "s.plan_id"},
]


def upgrade():
    op.create_table(
        "customer_subscription_rollup",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("plan_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("customer_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subscriptions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], ondelete="CASCADE",
            name=op.f("fk_customer_subscription_rollup_customer_id_customer")),
        sa.PrimaryKeyConstraint("customer_id", "status", "plan_id",
                                name=op.f("pk_customer_subscription_rollup")),
    )
    for grouping in GROUPINGS:
        op.execute(FILL.format(**grouping))
    op.create_index(
        "ix_customer_subscription_rollup_filter", "customer_subscription_rollup",
        ["status", "plan_id", "customer_created_at", "customer_id"], unique=False,
        sqlite_where=COUNTS_SUBSCRIPTIONS, postgresql_where=COUNTS_SUBSCRIPTIONS)


def downgrade():
    op.drop_index("ix_customer_subscription_rollup_filter",
                  table_name="customer_subscription_rollup")
    op.drop_table("customer_subscription_rollup")
