"""signals: per-rep thread choices with "not a deal", and why an activity is not contact from the buyer

- thread_links: one row per (organisation, thread, rep) instead of one per thread, so a rep's link or private
  marking covers only their own captured copies; `no_deal` records "not a deal".
- activities.contact_exclusion: automated mail (out-of-office, delivery receipts, auto-replies, mailing lists)
  and meetings every buyer declined are stored but never count as buyer contact.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# SQLite rebuilds these tables; reflecting the tables their foreign keys point to would trip over the users
# table's expression index (ix_users_email_lower), which the rebuild never touches.
_NO_FK_REFLECTION = {"resolve_fks": False}


def upgrade() -> None:
    with op.batch_alter_table('activities', schema=None, reflect_kwargs=_NO_FK_REFLECTION) as batch_op:
        batch_op.add_column(sa.Column('contact_exclusion', sa.String(length=20), nullable=False, server_default=''))
    with op.batch_alter_table('thread_links', schema=None, reflect_kwargs=_NO_FK_REFLECTION) as batch_op:
        batch_op.add_column(sa.Column('no_deal', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.drop_constraint('uq_thread_links_org_id', type_='unique')
        batch_op.create_unique_constraint('uq_thread_links_org_id', ['org_id', 'thread_key', 'chosen_by_id'])


def downgrade() -> None:
    with op.batch_alter_table('thread_links', schema=None, reflect_kwargs=_NO_FK_REFLECTION) as batch_op:
        batch_op.drop_constraint('uq_thread_links_org_id', type_='unique')
        batch_op.create_unique_constraint('uq_thread_links_org_id', ['org_id', 'thread_key'])
        batch_op.drop_column('no_deal')
    with op.batch_alter_table('activities', schema=None, reflect_kwargs=_NO_FK_REFLECTION) as batch_op:
        batch_op.drop_column('contact_exclusion')
