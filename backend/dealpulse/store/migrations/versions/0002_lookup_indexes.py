"""case-insensitive lookup indexes: user and alias addresses, contact addresses and account domains

Sign-in and linking compare lower(address) / lower(domain); without these indexes each lookup scans the table.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_users_email_lower', 'users', [sa.text('lower(email)')])
    op.create_index('ix_user_aliases_email_lower', 'user_aliases', [sa.text('lower(email)')])
    op.create_index('ix_contacts_org_email_lower', 'contacts', ['org_id', sa.text('lower(email)')])
    op.create_index('ix_account_domains_org_domain_lower', 'account_domains', ['org_id', sa.text('lower(domain)')])


def downgrade() -> None:
    op.drop_index('ix_account_domains_org_domain_lower', table_name='account_domains')
    op.drop_index('ix_contacts_org_email_lower', table_name='contacts')
    op.drop_index('ix_user_aliases_email_lower', table_name='user_aliases')
    op.drop_index('ix_users_email_lower', table_name='users')
