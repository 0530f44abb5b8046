"""reviews, action items and meeting outcomes: a pipeline review's agenda snapshot, the action items agreed in
it, and how a meeting with the buyer went

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

import dealpulse.store.base


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('reviews',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('rep_id', sa.Integer(), nullable=False),
    sa.Column('held_by_id', sa.Integer(), nullable=True),
    sa.Column('held_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('agenda', sa.JSON(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_reviews_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rep_id'], ['users.id'], name=op.f('fk_reviews_rep_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['held_by_id'], ['users.id'], name=op.f('fk_reviews_held_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews'))
    )
    op.create_index(op.f('ix_reviews_rep_id'), 'reviews', ['rep_id'], unique=False)
    op.create_table('action_items',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('opportunity_id', sa.Integer(), nullable=False),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('obstacle', sa.Text(), nullable=False),
    sa.Column('owner_kind', sa.String(length=16), nullable=False),
    sa.Column('owner_name', sa.String(length=200), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_action_items_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_action_items_opportunity_id_opportunities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], name=op.f('fk_action_items_review_id_reviews'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_action_items_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_items'))
    )
    op.create_index(op.f('ix_action_items_opportunity_id'), 'action_items', ['opportunity_id'], unique=False)
    op.create_index(op.f('ix_action_items_review_id'), 'action_items', ['review_id'], unique=False)
    op.create_index('ix_action_items_org_status_due', 'action_items', ['org_id', 'status', 'due_date'], unique=False)
    op.create_table('meeting_outcomes',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('next_step', sa.String(length=500), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', dealpulse.store.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_meeting_outcomes_org_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_meeting_outcomes_activity_id_activities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_meeting_outcomes_recorded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_outcomes')),
    sa.UniqueConstraint('activity_id', name=op.f('uq_meeting_outcomes_activity_id'))
    )


def downgrade() -> None:
    op.drop_table('meeting_outcomes')
    op.drop_index('ix_action_items_org_status_due', table_name='action_items')
    op.drop_index(op.f('ix_action_items_review_id'), table_name='action_items')
    op.drop_index(op.f('ix_action_items_opportunity_id'), table_name='action_items')
    op.drop_table('action_items')
    op.drop_index(op.f('ix_reviews_rep_id'), table_name='reviews')
    op.drop_table('reviews')
