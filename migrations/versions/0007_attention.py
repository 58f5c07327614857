"""attention list: a row for each subscription that needs staff attention

Revision ID: 0007_attention
Revises: 0002_billing_anchor
Create Date: 2026-12-06 14:30:00

The table starts empty: the next ``sync`` (or ``flask --app dashboard rebuild-rollups``) fills
it from the rows an existing database already holds; from then on each change keeps it current.
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


def downgrade():
    op.drop_table("attention_item")
