"""users: the civil servant's NIP (18 digits), unique when given; opds: active

Revision ID: c4e8a1f2d3b5
Revises: b7d1e4a9c2f0
Create Date: 2026-12-07 19:45:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c4e8a1f2d3b5'
down_revision = 'b7d1e4a9c2f0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nip', sa.String(length=18), nullable=True))
        batch_op.create_unique_constraint('uq_users_nip', ['nip'])
    with op.batch_alter_table('opds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('opds', schema=None) as batch_op:
        batch_op.drop_column('active')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('uq_users_nip', type_='unique')
        batch_op.drop_column('nip')
