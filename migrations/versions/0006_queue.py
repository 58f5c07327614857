"""count refused webhook requests (they are no longer stored)

Revision ID: 0006_queue
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_queue"
down_revision = "0005_support"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "webhook_refusal",
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.Column("last_refused_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("reason", name=op.f("pk_webhook_refusal")),
    )


def downgrade():
    op.drop_table("webhook_refusal")
