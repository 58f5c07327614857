"""rollups: the overview's daily and per-plan figures; the subscriptions list's index

Revision ID: 0004_rollups
Revises: 0001
Create Date: 2026-12-06 11:20:00

The tables start empty: ``flask --app dashboard rebuild-rollups`` fills them from the rows an
existing database already holds (run it once after upgrading).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_rollups'
down_revision = '0006_queue'
branch_labels = None
depends_on = None


def upgrade():
    amount = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table('day_rollup',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('paid_count', sa.Integer(), nullable=False),
    sa.Column('paid_amount', amount, nullable=False),
    sa.Column('refunded_amount', amount, nullable=False),
    sa.Column('refunded_count', sa.Integer(), nullable=False),
    sa.Column('failed_count', sa.Integer(), nullable=False),
    sa.Column('failed_amount', amount, nullable=False),
    sa.Column('first_attempts', sa.Integer(), nullable=False),
    sa.Column('first_attempts_paid', sa.Integer(), nullable=False),
    sa.Column('first_failures', sa.Integer(), nullable=False),
    sa.Column('recovered', sa.Integer(), nullable=False),
    sa.Column('scheduled_count', sa.Integer(), nullable=False),
    sa.Column('scheduled_amount', amount, nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_day_rollup'))
    )
    op.create_table('plan_rollup',
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('active_count', sa.Integer(), nullable=False),
    sa.Column('past_due_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_plan_rollup_plan_id_plan')),
    sa.PrimaryKeyConstraint('plan_id', name=op.f('pk_plan_rollup'))
    )
    op.create_index('ix_subscription_time', 'subscription', ['created_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_subscription_time', table_name='subscription')
    op.drop_table('plan_rollup')
    op.drop_table('day_rollup')
