"""sync lease holder: which worker holds a mailbox's sync lease (named in "already syncing" messages)

The lease's expiry stays in `paused_until` while `sync_state` is "syncing"/"resyncing"; the holder column
identifies the run, so a worker whose lease was taken over notices at its next renewal.

Revision ID: 0005
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mailboxes') as batch:
        batch.add_column(sa.Column('lease_holder', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mailboxes') as batch:
        batch.drop_column('lease_holder')
