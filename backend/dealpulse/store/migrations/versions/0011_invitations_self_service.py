"""invitations and rep self-service: signed e-mail invitations; a rep's own private-by-default choice

`invitations` holds who was invited to which organisation (role, team), when the link expires and when it was
accepted or revoked; only the SHA-256 of the link's token is kept. `users.private_by_default` is a rep's own
choice (null: follow the organisation's privacy rule).

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

import dealpulse.store.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('team_id', sa.Integer(), nullable=True),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('invited_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('accepted_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_invitations_org_id_organisations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_invitations_team_id_teams'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['invited_by_id'], ['users.id'], name=op.f('fk_invitations_invited_by_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_invitations_user_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash')),
    )
    op.create_index(op.f('ix_invitations_org_id'), 'invitations', ['org_id'], unique=False)
    # Plain ADD COLUMN (no batch rebuild, which would drop the lower(email) expression indexes on SQLite).
    op.add_column('users', sa.Column('private_by_default', sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'private_by_default')
    op.drop_index(op.f('ix_invitations_org_id'), table_name='invitations')
    op.drop_table('invitations')
