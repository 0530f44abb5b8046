"""opportunity seats: the seat or licence count a buyer stated, set by a suggested update or by hand

Revision ID: 0013
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('opportunities', sa.Column('seats', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('opportunities', 'seats')
