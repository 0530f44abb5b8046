"""sign-in hardening: dashboard session versions, stable sign-in subjects, token expiry, add-on action receipts

`users.session_version` is bumped on sign-out (every older dashboard cookie stops working); `ms_object_id` and
`google_subject` bind a user to the stable Microsoft `oid` / Google `sub` on first sign-in; `api_tokens.expires_at`
is an optional expiry; `addon_action_receipts` makes a replayed Gmail add-on button press a no-op.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

import dealpulse.store.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN and CREATE INDEX (no batch table rebuild): SQLite's rebuild would drop the lower(email)
    # expression indexes of 0002, which it cannot reflect.
    op.add_column('users', sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('users', sa.Column('ms_object_id', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('google_subject', sa.String(length=64), nullable=True))
    op.create_index('ix_users_ms_object_id', 'users', ['ms_object_id'], unique=True)
    op.create_index('ix_users_google_subject', 'users', ['google_subject'], unique=True)
    op.add_column('api_tokens', sa.Column('expires_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=True))
    op.create_table('addon_action_receipts',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('action_key', sa.String(length=64), nullable=False),
    sa.Column('created_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_addon_action_receipts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_addon_action_receipts')),
    sa.UniqueConstraint('user_id', 'action_key', name=op.f('uq_addon_action_receipts_user_id')),
    )
    op.create_index(op.f('ix_addon_action_receipts_created_at'), 'addon_action_receipts', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_addon_action_receipts_created_at'), table_name='addon_action_receipts')
    op.drop_table('addon_action_receipts')
    op.drop_column('api_tokens', 'expires_at')
    op.drop_index('ix_users_google_subject', table_name='users')
    op.drop_index('ix_users_ms_object_id', table_name='users')
    op.drop_column('users', 'google_subject')
    op.drop_column('users', 'ms_object_id')
    op.drop_column('users', 'session_version')
