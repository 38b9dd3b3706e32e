"""user interface language; apps that need a database

Revision ID: 919e1e3e70f5
Revises: 40d922bad09f
Create Date: 2026-11-23 02:00:51.507267
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '919e1e3e70f5'
down_revision = '40d922bad09f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
    for table in ('hosting_requests', 'apps'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('needs_database', sa.Boolean(), nullable=False,
                                          server_default=sa.false()))


def downgrade() -> None:
    for table in ('apps', 'hosting_requests'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('needs_database')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')

