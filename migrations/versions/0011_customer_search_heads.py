"""customer search heads: the first one and two characters of name and email, the first
three, four and five digits of phone, each with (created_at, id)

Revision ID: 0011_customer_search_heads
Revises: 0010_customer_subscriptions
Create Date: 2026-12-07 23:50:00

A search that short (a surname alone, a live search's first keystrokes, "010", which every
mobile number starts with) matched a range of the field's index that holds a share of all
customers, read whole and sorted for every page. An index on the field's first characters,
with the list's order after it, holds those matches newest first: a page reads fifty of
them. Each carries the field too, so that the index alone answers the lookup.

On PostgreSQL the indexes are built and dropped ``CONCURRENTLY``: customers stay writable
while they build.
"""
from contextlib import nullcontext

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011_customer_search_heads"
down_revision = "0010_customer_subscriptions"
branch_labels = None
depends_on = None

HEADS = {"name": (1, 2), "email": (1, 2), "phone": (3, 4, 5)}
INDEXES = [(f"ix_customer_{field}_head{length}",
            [sa.text(f"substr({field}, 1, {length})"), "created_at", "id", field])
           for field, lengths in HEADS.items() for length in lengths]


def concurrently():
    """Run in autocommit on PostgreSQL: CONCURRENTLY cannot run inside a transaction."""
    postgres = op.get_bind().dialect.name == "postgresql"
    return (op.get_context().autocommit_block() if postgres else nullcontext()), postgres


def upgrade():
    block, postgres = concurrently()
    with block:
        for name, columns in INDEXES:
            op.create_index(name, "customer", columns, unique=False,
                            postgresql_concurrently=postgres)


def downgrade():
    block, postgres = concurrently()
    with block:
        for name, _columns in INDEXES:
            op.drop_index(name, table_name="customer", postgresql_concurrently=postgres)
