"""attention list: a row for each subscription that needs staff attention; refunds per day

Revision ID: 0007_attention
Revises: 0002_billing_anchor
Create Date: 2026-12-06 14:30:00

The new table and columns start empty: ``flask --app dashboard rebuild-rollups`` fills them
from the rows an existing database already holds (run it once after upgrading; the next
``sync`` fills the attention list too). From then on each change keeps them current.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0007_attention"
down_revision = "0002_billing_anchor"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "attention_item",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("billing_key_missing", sa.Boolean(), nullable=False),
        sa.Column("not_scheduled", sa.Boolean(), nullable=False),
        sa.Column("charge_outcome_unknown", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscription.id"],
                                name=op.f("fk_attention_item_subscription_id_subscription"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_attention_item")),
    )
    amount = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    with op.batch_alter_table("day_rollup", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refunds_on_day_count", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("refunds_on_day_amount", amount, nullable=False,
                                      server_default="0"))
    # SQLite keeps the zero defaults: dropping them would rebuild the table for nothing.
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("day_rollup", "refunds_on_day_count", server_default=None)
        op.alter_column("day_rollup", "refunds_on_day_amount", server_default=None)


def downgrade():
    with op.batch_alter_table("day_rollup", schema=None) as batch_op:
        batch_op.drop_column("refunds_on_day_amount")
        batch_op.drop_column("refunds_on_day_count")
    op.drop_table("attention_item")
