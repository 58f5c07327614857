"""support desk: customer notes, saved filters, phone tail for last-four search

Revision ID: 0005_support
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_support"
down_revision = "0003_security"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_tail", sa.String(length=4), nullable=False,
                                      server_default=""))
    # Existing customers get their tail from the stored digits (SQLite and PostgreSQL alike).
    op.execute("UPDATE customer SET phone_tail = substr(phone, length(phone) - 3) "
               "WHERE length(phone) >= 4")
    op.execute("UPDATE customer SET phone_tail = phone WHERE length(phone) < 4")
    # SQLite keeps the empty default: dropping it would rebuild the customer table, which
    # its foreign keys refuse once customers have subscriptions and payments.
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("customer", "phone_tail", server_default=None)
    op.create_index("ix_customer_phone_tail", "customer", ["phone_tail"], unique=False)

    op.create_table(
        "customer_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author_label", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["admin_user.id"],
                                name=op.f("fk_customer_note_author_id_admin_user")),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"],
                                name=op.f("fk_customer_note_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_note")),
    )
    with op.batch_alter_table("customer_note", schema=None) as batch_op:
        batch_op.create_index("ix_customer_note_customer", ["customer_id", "id"], unique=False)

    op.create_table(
        "saved_filter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("query_string", sa.String(length=1000), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["admin_user.id"],
                                name=op.f("fk_saved_filter_created_by_id_admin_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filter")),
        sa.UniqueConstraint("list_name", "name", name="uq_saved_filter_list_name"),
    )


def downgrade():
    op.drop_table("saved_filter")
    with op.batch_alter_table("customer_note", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_note_customer")
    op.drop_table("customer_note")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_phone_tail")
        batch_op.drop_column("phone_tail")
