"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-27 05:45:43.721940

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('admin_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('viewer', 'support', 'admin')", name=op.f('ck_admin_user_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_user')),
    sa.UniqueConstraint('email', name=op.f('uq_admin_user_email'))
    )
    op.create_table('customer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_uid', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('card_name', sa.String(length=40), nullable=True),
    sa.Column('card_code', sa.String(length=10), nullable=True),
    sa.Column('card_number', sa.String(length=24), nullable=True),
    sa.Column('card_type', sa.Integer(), nullable=True),
    sa.Column('pg_provider', sa.String(length=16), nullable=True),
    sa.Column('billing_key_status', sa.String(length=8), nullable=False),
    sa.Column('billing_key_synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("billing_key_status IN ('active', 'deleted', 'missing')", name=op.f('ck_customer_billing_key')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer')),
    sa.UniqueConstraint('customer_uid', name=op.f('uq_customer_customer_uid'))
    )
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.create_index('ix_customer_created', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_customer_email', ['email'], unique=False)
        batch_op.create_index('ix_customer_name', ['name'], unique=False)
        batch_op.create_index('ix_customer_phone', ['phone'], unique=False)

    op.create_table('plan',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('interval_unit', sa.String(length=8), nullable=False),
    sa.Column('interval_count', sa.Integer(), nullable=False),
    sa.Column('credits_per_period', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("interval_unit IN ('month', 'day')", name=op.f('ck_plan_interval_unit')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_plan_amount_positive')),
    sa.CheckConstraint('credits_per_period IS NULL OR credits_per_period >= 0', name=op.f('ck_plan_credits')),
    sa.CheckConstraint('interval_count > 0', name=op.f('ck_plan_interval_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan')),
    sa.UniqueConstraint('code', name=op.f('uq_plan_code'))
    )
    op.create_table('webhook_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.Column('content_type', sa.String(length=200), nullable=True),
    sa.Column('raw_body', sa.LargeBinary(), nullable=False),
    sa.Column('imp_uid', sa.String(length=32), nullable=True),
    sa.Column('merchant_uid', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=True),
    sa.Column('cancellation_id', sa.String(length=64), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('received', 'processed', 'failed', 'ignored')", name=op.f('ck_webhook_event_state')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_event'))
    )
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_event_imp_uid', ['imp_uid'], unique=False)
        batch_op.create_index('ix_webhook_event_merchant_uid', ['merchant_uid'], unique=False)
        batch_op.create_index('ix_webhook_event_state_time', ['state', 'received_at'], unique=False)
        batch_op.create_index('ix_webhook_event_time', ['received_at', 'id'], unique=False)

    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['admin_user.id'], name=op.f('fk_api_token_created_by_id_admin_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    op.create_table('audit_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target_id', sa.String(length=80), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=256), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('ip_address', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['admin_user.id'], name=op.f('fk_audit_entry_actor_id_admin_user')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_audit_entry_customer_id_customer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index('ix_audit_entry_customer', ['customer_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_entry_target', ['target_type', 'target_id', 'id'], unique=False)
        batch_op.create_index('ix_audit_entry_time', ['created_at', 'id'], unique=False)

    op.create_table('subscription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('next_plan_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('current_period', sa.Integer(), nullable=False),
    sa.Column('current_period_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('current_period_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_charge_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('cancel_at_period_end', sa.Boolean(), nullable=False),
    sa.Column('cancel_reason', sa.String(length=256), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resume_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'past_due', 'paused', 'cancelled')", name=op.f('ck_subscription_status')),
    sa.CheckConstraint('current_period >= 0', name=op.f('ck_subscription_current_period')),
    sa.CheckConstraint('failed_attempts >= 0', name=op.f('ck_subscription_failed_attempts')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_subscription_customer_id_customer')),
    sa.ForeignKeyConstraint(['next_plan_id'], ['plan.id'], name=op.f('fk_subscription_next_plan_id_plan')),
    sa.ForeignKeyConstraint(['plan_id'], ['plan.id'], name=op.f('fk_subscription_plan_id_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription'))
    )
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.create_index('ix_subscription_customer', ['customer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_subscription_due', ['next_attempt_at'], unique=False)
        batch_op.create_index('ix_subscription_plan', ['plan_id', 'status'], unique=False)
        batch_op.create_index('ix_subscription_status_next', ['status', 'next_charge_at'], unique=False)

    op.create_table('payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('imp_uid', sa.String(length=32), nullable=True),
    sa.Column('merchant_uid', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('period', sa.Integer(), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('origin', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('cancel_amount', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('card_name', sa.String(length=40), nullable=True),
    sa.Column('card_number', sa.String(length=24), nullable=True),
    sa.Column('pg_tid', sa.String(length=64), nullable=True),
    sa.Column('apply_num', sa.String(length=20), nullable=True),
    sa.Column('receipt_url', sa.String(length=500), nullable=True),
    sa.Column('fail_reason', sa.String(length=256), nullable=True),
    sa.Column('reason', sa.String(length=256), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("origin IN ('schedule', 'again', 'manual')", name=op.f('ck_payment_origin')),
    sa.CheckConstraint("status IN ('pending', 'paid', 'failed', 'cancelled')", name=op.f('ck_payment_status')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_payment_amount_non_negative')),
    sa.CheckConstraint('cancel_amount <= amount', name=op.f('ck_payment_cancel_within_amount')),
    sa.CheckConstraint('cancel_amount >= 0', name=op.f('ck_payment_cancel_non_negative')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_payment_customer_id_customer')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['admin_user.id'], name=op.f('fk_payment_requested_by_id_admin_user')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'], name=op.f('fk_payment_subscription_id_subscription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment')),
    sa.UniqueConstraint('imp_uid', name=op.f('uq_payment_imp_uid')),
    sa.UniqueConstraint('merchant_uid', name=op.f('uq_payment_merchant_uid'))
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index('ix_payment_customer_time', ['customer_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_payment_paid_at', ['paid_at', 'amount', 'cancel_amount'], unique=False)
        batch_op.create_index('ix_payment_status_time', ['status', 'created_at', 'id', 'attempt', 'origin'], unique=False)
        batch_op.create_index('ix_payment_subscription_period', ['subscription_id', 'period'], unique=False)
        batch_op.create_index('ix_payment_time', ['created_at', 'id'], unique=False)

    op.create_table('schedule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant_uid', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('period', sa.Integer(), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('schedule_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('schedule_status', sa.String(length=10), nullable=False),
    sa.Column('payment_status', sa.String(length=10), nullable=True),
    sa.Column('imp_uid', sa.String(length=32), nullable=True),
    sa.Column('fail_reason', sa.String(length=256), nullable=True),
    sa.Column('executed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("payment_status IS NULL OR payment_status IN ('paid', 'failed', 'cancelled')", name=op.f('ck_schedule_payment_status')),
    sa.CheckConstraint("schedule_status IN ('scheduled', 'executed', 'revoked')", name=op.f('ck_schedule_schedule_status')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_schedule_amount_non_negative')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_schedule_customer_id_customer')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscription.id'], name=op.f('fk_schedule_subscription_id_subscription')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule')),
    sa.UniqueConstraint('merchant_uid', name=op.f('uq_schedule_merchant_uid'))
    )
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.create_index('ix_schedule_at', ['schedule_at', 'id'], unique=False)
        batch_op.create_index('ix_schedule_customer_at', ['customer_id', 'schedule_at'], unique=False)
        batch_op.create_index('ix_schedule_status_at', ['schedule_status', 'schedule_at', 'amount'], unique=False)
        batch_op.create_index('ix_schedule_subscription_period', ['subscription_id', 'period'], unique=False)
        batch_op.create_index('uq_schedule_live_period', ['subscription_id', 'period'], unique=True, sqlite_where=sa.text("schedule_status = 'scheduled'"), postgresql_where=sa.text("schedule_status = 'scheduled'"))

    op.create_table('credit_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('delta', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('period_paid', 'refund_reversal', 'manual')", name=op.f('ck_credit_entry_reason')),
    sa.CheckConstraint('delta <> 0', name=op.f('ck_credit_entry_delta_non_zero')),
    sa.ForeignKeyConstraint(['actor_id'], ['admin_user.id'], name=op.f('fk_credit_entry_actor_id_admin_user')),
    sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], name=op.f('fk_credit_entry_customer_id_customer')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_credit_entry_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_entry')),
    sa.UniqueConstraint('payment_id', 'reason', name='uq_credit_entry_payment_reason')
    )
    with op.batch_alter_table('credit_entry', schema=None) as batch_op:
        batch_op.create_index('ix_credit_entry_customer', ['customer_id', 'id'], unique=False)

    op.create_table('refund',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('checksum', sa.Integer(), nullable=True),
    sa.Column('cancellation_id', sa.String(length=64), nullable=True),
    sa.Column('pg_tid', sa.String(length=64), nullable=True),
    sa.Column('receipt_url', sa.String(length=500), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('request_key', sa.String(length=40), nullable=True),
    sa.Column('error', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'rejected')", name=op.f('ck_refund_status')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refund_amount_positive')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_refund_payment_id_payment')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['admin_user.id'], name=op.f('fk_refund_requested_by_id_admin_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund')),
    sa.UniqueConstraint('cancellation_id', name=op.f('uq_refund_cancellation_id')),
    sa.UniqueConstraint('request_key', name=op.f('uq_refund_request_key'))
    )
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.create_index('ix_refund_payment', ['payment_id', 'id'], unique=False)
        batch_op.create_index('ix_refund_status_time', ['status', 'created_at'], unique=False)

    


def downgrade():
    
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_index('ix_refund_status_time')
        batch_op.drop_index('ix_refund_payment')

    op.drop_table('refund')
    with op.batch_alter_table('credit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_credit_entry_customer')

    op.drop_table('credit_entry')
    with op.batch_alter_table('schedule', schema=None) as batch_op:
        batch_op.drop_index('uq_schedule_live_period', sqlite_where=sa.text("schedule_status = 'scheduled'"), postgresql_where=sa.text("schedule_status = 'scheduled'"))
        batch_op.drop_index('ix_schedule_subscription_period')
        batch_op.drop_index('ix_schedule_status_at')
        batch_op.drop_index('ix_schedule_customer_at')
        batch_op.drop_index('ix_schedule_at')

    op.drop_table('schedule')
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_time')
        batch_op.drop_index('ix_payment_subscription_period')
        batch_op.drop_index('ix_payment_status_time')
        batch_op.drop_index('ix_payment_paid_at')
        batch_op.drop_index('ix_payment_customer_time')

    op.drop_table('payment')
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_status_next')
        batch_op.drop_index('ix_subscription_plan')
        batch_op.drop_index('ix_subscription_due')
        batch_op.drop_index('ix_subscription_customer')

    op.drop_table('subscription')
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_time')
        batch_op.drop_index('ix_audit_entry_target')
        batch_op.drop_index('ix_audit_entry_customer')

    op.drop_table('audit_entry')
    op.drop_table('api_token')
    with op.batch_alter_table('webhook_event', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_event_time')
        batch_op.drop_index('ix_webhook_event_state_time')
        batch_op.drop_index('ix_webhook_event_merchant_uid')
        batch_op.drop_index('ix_webhook_event_imp_uid')

    op.drop_table('webhook_event')
    op.drop_table('plan')
    with op.batch_alter_table('customer', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_phone')
        batch_op.drop_index('ix_customer_name')
        batch_op.drop_index('ix_customer_email')
        batch_op.drop_index('ix_customer_created')

    op.drop_table('customer')
    op.drop_table('admin_user')
    
