"""admin plane: version counters on organisations, teams and users; when a user was deactivated

`version` guards concurrent admin edits (If-Match / a `version` field, like opportunities); `deactivated_at` records
when an admin deactivated a user (their open deals are then listed for reassignment).

Revision ID: 0007
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

import dealpulse.store.base

revision = '0007'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch table rebuild): SQLite's rebuild would drop the lower(email) expression indexes of
    # 0002, which it cannot reflect.
    op.add_column('organisations', sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('teams', sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('users', sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('users', sa.Column('deactivated_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN as well (SQLite >= 3.35), for the same reason.
    op.drop_column('users', 'deactivated_at')
    op.drop_column('users', 'version')
    op.drop_column('teams', 'version')
    op.drop_column('organisations', 'version')
