"""Blocks that show assets of the library: the `image` and `gallery` kinds (file and video
blocks take an `assetId` in their body instead of a `url`, which needs no change here).

Revision ID: 0029
Revises: 0028
"""

from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

KINDS = ("heading", "rich_text", "link", "file", "video", "embed", "checklist")


def _check(kinds: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{k}'" for k in kinds)
    return f"ALTER TABLE blocks ADD CONSTRAINT blocks_kind_check CHECK (kind IN ({listed}))"


def upgrade() -> None:
    op.execute("ALTER TABLE blocks DROP CONSTRAINT blocks_kind_check")
    op.execute(_check((*KINDS, "image", "gallery")))


def downgrade() -> None:
    op.execute("DELETE FROM blocks WHERE kind IN ('image', 'gallery')")
    # file and video blocks of an asset have no url, which the older code reads
    op.execute("DELETE FROM blocks WHERE kind IN ('file', 'video') AND NOT body ? 'url'")
    op.execute("ALTER TABLE blocks DROP CONSTRAINT blocks_kind_check")
    op.execute(_check(KINDS))
