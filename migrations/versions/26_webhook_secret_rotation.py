"""Webhook signing secrets that can be rotated: the previous secret and when it stops signing.

`webhookSubscriptionRotateSecret` moves `secret` to `previous_secret` and sets
`previous_expires_at`; until then the worker signs every delivery with both (Standard
Webhooks allows several space-separated signatures in `webhook-signature`), so a receiver
can switch secrets without missing a delivery.

Revision ID: 0028
Revises: 0027
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE webhook_subscriptions
            ADD COLUMN previous_secret varchar(100),
            ADD COLUMN previous_expires_at timestamptz,
            ADD COLUMN secret_rotated_at timestamptz,
            ADD CONSTRAINT ck_webhook_previous_secret
                CHECK ((previous_secret IS NULL) = (previous_expires_at IS NULL))
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE webhook_subscriptions
            DROP CONSTRAINT ck_webhook_previous_secret,
            DROP COLUMN previous_secret,
            DROP COLUMN previous_expires_at,
            DROP COLUMN secret_rotated_at
        """
    )
