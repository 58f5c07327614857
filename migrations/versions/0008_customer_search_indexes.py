"""customer search indexes carry the list's order: name, email, phone and phone_tail each
with (created_at, id)

Revision ID: 0008_customer_search_indexes
Revises: 0007_attention
Create Date: 2026-12-07 09:20:00

The customers list shows a search's newest matches first: with the list's order in each
field's index, a match's place in that order is read from the index, and the table only for
the rows that may make the page.

On PostgreSQL the indexes are built and dropped ``CONCURRENTLY``: customers can still be
added and changed (a webhook, a billing key) while they build.
"""
from contextlib import nullcontext

from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_customer_search_indexes"
down_revision = "0007_attention"
branch_labels = None
depends_on = None

FIELDS = ("name", "email", "phone", "phone_tail")


def replace_indexes(create: dict[str, list[str]], drop: list[str]) -> None:
    """Build the new indexes first, so searches always have one, then drop the old."""
    postgres = op.get_bind().dialect.name == "postgresql"
    # CONCURRENTLY cannot run inside a transaction.
    with op.get_context().autocommit_block() if postgres else nullcontext():
        for name, columns in create.items():
            op.create_index(name, "customer", columns, unique=False,
                            postgresql_concurrently=postgres)
        for name in drop:
            op.drop_index(name, table_name="customer", postgresql_concurrently=postgres)


def upgrade():
    replace_indexes({f"ix_customer_{field}_created": [field, "created_at", "id"]
                     for field in FIELDS},
                    [f"ix_customer_{field}" for field in FIELDS])


def downgrade():
    replace_indexes({f"ix_customer_{field}": [field] for field in FIELDS},
                    [f"ix_customer_{field}_created" for field in FIELDS])
