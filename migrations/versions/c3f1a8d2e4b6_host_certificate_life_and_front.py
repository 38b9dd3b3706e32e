"""hosts: their agent certificate's expiry and renewal, and the front address of their apps

Revision ID: c3f1a8d2e4b6
Revises: d7a3e5c1b9f2
Create Date: 2026-12-07 21:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'c3f1a8d2e4b6'
down_revision = 'd7a3e5c1b9f2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cert_not_after', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cert_renewed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expiry_notice_for', sa.String(length=95), nullable=True))
        batch_op.add_column(sa.Column('front_address', sa.String(length=45), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('hosts', schema=None) as batch_op:
        batch_op.drop_column('front_address')
        batch_op.drop_column('expiry_notice_for')
        batch_op.drop_column('cert_renewed_at')
        batch_op.drop_column('cert_not_after')
