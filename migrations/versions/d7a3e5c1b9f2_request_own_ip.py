"""a hosting request may ask for an IP address of its own

Revision ID: d7a3e5c1b9f2
Revises: c4e8a1f2d9b3
Create Date: 2026-12-07 21:20:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'd7a3e5c1b9f2'
down_revision = 'c4e8a1f2d9b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hosting_requests') as batch_op:
        batch_op.add_column(sa.Column('needs_own_ip', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('hosting_requests') as batch_op:
        batch_op.drop_column('needs_own_ip')
