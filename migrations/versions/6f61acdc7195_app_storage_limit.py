"""apps: a limit on their writable data (MiB), 1 GiB unless set

Revision ID: 6f61acdc7195
Revises: 919e1e3e70f5
Create Date: 2026-12-07 17:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '6f61acdc7195'
down_revision = '919e1e3e70f5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('storage_mb', sa.Integer(), nullable=False,
                                      server_default=sa.text('1024')))


def downgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('storage_mb')
