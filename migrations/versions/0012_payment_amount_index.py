"""payment amount index: (amount, created_at, id), for the payments list filtered by amount

Revision ID: 0012_payment_amount_index
Revises: 0011_customer_search_heads
Create Date: 2026-12-08 04:00:00

The payments list filtered by amount alone read every payment newest first until a page
matched: an amount rare among the newest payments read further as the table grew. With this
index each amount of the range is read newest first on its own, a page at most.

On PostgreSQL the index is built and dropped ``CONCURRENTLY``: payments stay writable while
it builds.
"""
from contextlib import nullcontext

from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_payment_amount_index"
down_revision = "0011_customer_search_heads"
branch_labels = None
depends_on = None


def concurrently():
    """Run in autocommit on PostgreSQL: CONCURRENTLY cannot run inside a transaction."""
    postgres = op.get_bind().dialect.name == "postgresql"
    return (op.get_context().autocommit_block() if postgres else nullcontext()), postgres


def upgrade():
    block, postgres = concurrently()
    with block:
        op.create_index("ix_payment_amount_time", "payment", ["amount", "created_at", "id"],
                        unique=False, postgresql_concurrently=postgres)


def downgrade():
    block, postgres = concurrently()
    with block:
        op.drop_index("ix_payment_amount_time", table_name="payment",
                      postgresql_concurrently=postgres)
