"""customer search indexes carry the list's order: name, email, phone and phone_tail each
with (created_at, id)

Revision ID: 0008_customer_search_indexes
Revises: 0007_attention
Create Date: 2026-12-07 09:20:00

The customers list shows a search's newest matches first: with the list's order in each
field's index, a match's place in that order is read from the index, and the table only for
the rows that may make the page.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_customer_search_indexes"
down_revision = "0007_attention"
branch_labels = None
depends_on = None

FIELDS = ("name", "email", "phone", "phone_tail")


def upgrade():
    for field in FIELDS:
        op.create_index(f"ix_customer_{field}_created", "customer",
                        [field, "created_at", "id"], unique=False)
        op.drop_index(f"ix_customer_{field}", table_name="customer")


def downgrade():
    for field in FIELDS:
        op.create_index(f"ix_customer_{field}", "customer", [field], unique=False)
        op.drop_index(f"ix_customer_{field}_created", table_name="customer")
