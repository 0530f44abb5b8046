"""stance evidence on tone scores: the leave-one-out sentences behind an alert or the open email

Computed only where evidence is shown (alerts, the sidebar) and kept, so it costs one extra scorer pass per
such email, once; NULL means not computed yet.

Revision ID: 0006
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sentiment_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('evidence', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sentiment_scores', schema=None) as batch_op:
        batch_op.drop_column('evidence')
