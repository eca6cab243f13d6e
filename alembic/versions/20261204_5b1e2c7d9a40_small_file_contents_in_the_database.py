"""small file contents in the database

Revision ID: 5b1e2c7d9a40
Revises: 93f0aaede5e8
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "5b1e2c7d9a40"
down_revision: str | None = "93f0aaede5e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Content stored before this revision stays in the data dir, where reads still find it.
    op.create_table(
        "file_content",
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )


def downgrade() -> None:
    op.drop_table("file_content")
