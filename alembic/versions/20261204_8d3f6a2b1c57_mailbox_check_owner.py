"""mailbox check owner

Revision ID: 8d3f6a2b1c57
Revises: 5b1e2c7d9a40
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "8d3f6a2b1c57"
down_revision: str | None = "5b1e2c7d9a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mailbox") as batch:
        batch.add_column(
            sa.Column(
                "check_owner",
                sqlmodel.sql.sqltypes.AutoString(length=128),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("mailbox") as batch:
        batch.drop_column("check_owner")
