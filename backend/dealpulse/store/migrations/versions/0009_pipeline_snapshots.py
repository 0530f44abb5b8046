"""pipeline snapshots and win-probability models: each deal's state per day; when a buying-team role was taken

`pipeline_snapshots` holds one row per open deal and day (stage, owner, amount, close date, forecast category,
probability), written daily and back-filled from the stage history and audit log; `win_models` lists each
organisation's trained win-probability models (files under <model_dir>/winprob/<version>/);
`buying_team_members.added_at` says since when a contact holds their role (NULL: before it was recorded).

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

import dealpulse.store.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN / CREATE TABLE (no batch rebuild, which would drop SQLite's lower(email) expression indexes).
    op.add_column('buying_team_members', sa.Column('added_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        'pipeline_snapshots',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('opportunity_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('stage_id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('close_date', sa.Date(), nullable=True),
        sa.Column('forecast_category', sa.String(length=16), nullable=False),
        sa.Column('probability', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('created_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_pipeline_snapshots_org_id_organisations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_pipeline_snapshots_opportunity_id_opportunities'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['stage_id'], ['stages.id'], name=op.f('fk_pipeline_snapshots_stage_id_stages'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_pipeline_snapshots_owner_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_snapshots')),
        sa.UniqueConstraint('opportunity_id', 'day', name=op.f('uq_pipeline_snapshots_opportunity_id')),
    )
    op.create_index('ix_pipeline_snapshots_org_day', 'pipeline_snapshots', ['org_id', 'day'], unique=False)
    op.create_table(
        'win_models',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.String(length=80), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('won', sa.Integer(), nullable=False),
        sa.Column('lost', sa.Integer(), nullable=False),
        sa.Column('metrics', sa.JSON(), nullable=False),
        sa.Column('created_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_win_models_org_id_organisations'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_win_models')),
        sa.UniqueConstraint('org_id', 'version', name=op.f('uq_win_models_org_id')),
    )
    op.create_index('ix_win_models_org_status', 'win_models', ['org_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_win_models_org_status', table_name='win_models')
    op.drop_table('win_models')
    op.drop_index('ix_pipeline_snapshots_org_day', table_name='pipeline_snapshots')
    op.drop_table('pipeline_snapshots')
    op.drop_column('buying_team_members', 'added_at')
