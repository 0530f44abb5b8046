"""forecast data: deals get external_id, closed_at and forecast_category; a quotas table

`external_id` is the CRM's id (unique per organisation, so a re-import updates the same deal); `closed_at` is when a
deal entered its closed stage (existing closed deals take their stage entry time); `forecast_category` is the rep's
call (pipeline | best_case | commit | omitted). Quotas are per rep, period (2027-Q1 or 2027-03) and currency.

Revision ID: 0008
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

import dealpulse.store.base

revision = '0008'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN / CREATE INDEX (no batch rebuild, which would drop SQLite's lower(email) expression indexes).
    op.add_column('opportunities', sa.Column('external_id', sa.String(length=200), nullable=True))
    op.add_column('opportunities', sa.Column('closed_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=True))
    op.add_column(
        'opportunities',
        sa.Column('forecast_category', sa.String(length=16), nullable=False, server_default='pipeline'),
    )
    op.create_index('ix_opportunities_org_external_id', 'opportunities', ['org_id', 'external_id'], unique=True)
    op.create_index('ix_opportunities_org_closed_at', 'opportunities', ['org_id', 'closed_at'], unique=False)
    op.execute(
        "UPDATE opportunities SET closed_at = stage_entered_at "
        "WHERE stage_id IN (SELECT id FROM stages WHERE is_closed)"
    )
    op.create_table(
        'quotas',
        sa.Column('org_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('period', sa.String(length=7), nullable=False),
        sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('created_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_quotas_org_id_organisations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_quotas_user_id_users'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_quotas')),
        sa.UniqueConstraint('user_id', 'period', 'currency', name=op.f('uq_quotas_user_id')),
    )
    op.create_index('ix_quotas_org_period', 'quotas', ['org_id', 'period'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_quotas_org_period', table_name='quotas')
    op.drop_table('quotas')
    op.drop_index('ix_opportunities_org_closed_at', table_name='opportunities')
    op.drop_index('ix_opportunities_org_external_id', table_name='opportunities')
    op.drop_column('opportunities', 'forecast_category')
    op.drop_column('opportunities', 'closed_at')
    op.drop_column('opportunities', 'external_id')
