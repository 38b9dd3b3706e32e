"""the image a Dockerfile app's build made, and the scan of its files

Revision ID: b7d1e4a9c2f0
Revises: 8cbd04a1e5c6
Create Date: 2026-12-07 17:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'b7d1e4a9c2f0'
down_revision = '8cbd04a1e5c6'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('scan_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), nullable=False,
                                      server_default='bundle'))
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('image_id', sa.String(length=71), nullable=True))
        batch_op.add_column(sa.Column('build_scan_report_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_releases_build_scan_report_id_scan_reports'),
                                    'scan_reports', ['build_scan_report_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('releases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_releases_build_scan_report_id_scan_reports'),
                                 type_='foreignkey')
        batch_op.drop_column('build_scan_report_id')
        batch_op.drop_column('image_id')
    with op.batch_alter_table('scan_reports', schema=None) as batch_op:
        batch_op.drop_column('kind')
