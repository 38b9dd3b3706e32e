"""Submission keys unique per submitter, with the digest of what they filed

Revision ID: 8cbd04a1e5c6
Revises: 01fc6da1337a
Create Date: 2026-12-07 16:37:03.377266
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '8cbd04a1e5c6'
down_revision = '01fc6da1337a'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hosting_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_digest', sa.String(length=64), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_hosting_requests_submission_key'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_hosting_requests_submitted_by_id'),
                                          ['submitted_by_id', 'submission_key'])


def downgrade() -> None:
    # Two users may now hold the same key; the old global constraint could not take both.
    op.execute("UPDATE hosting_requests SET submission_key = NULL")
    with op.batch_alter_table('hosting_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_hosting_requests_submitted_by_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_hosting_requests_submission_key'), ['submission_key'])
        batch_op.drop_column('submission_digest')
