"""The personal-data map of the contact tables.

Invariants guarded here:
- every column of these tables is either declared personal data, with a fideslang category,
  or listed below as holding none; a new column must be classified before tests pass;
- the GraphQL fields backed by personal-data columns are nullable (redaction may return null).
"""

from __future__ import annotations

import pytest
from fideslang.default_taxonomy import DEFAULT_TAXONOMY
from graphql import GraphQLNonNull

from models import Base
from schema.build import build_schema

TABLES = [
    "contacts",
    "space_access",
    "consent_events",
    "outbox",
    "emails_sent",
    "usage_events",
    # partners: events and webhooks hold ids, field names and our own delivery state
    "domain_events",
    "webhook_subscriptions",
    "webhook_deliveries",
]
# columns that hold no personal data: keys, states, enums, timestamps of our own actions
NOT_PERSONAL = {
    "tenant_id",
    "id",
    "created_at",
    "updated_at",
    "space_access.space_id",
    "space_access.state",
    "space_access.invited_at",
    "space_access.revoked_at",
    "consent_events.source",
    "consent_events.purpose",
    "consent_events.policy_version",
    "consent_events.recorded_by",
    "outbox.kind",
    "outbox.space_id",
    "outbox.status",
    "outbox.attempts",
    "outbox.next_attempt_at",
    "outbox.sent_at",
    "outbox.cancelled_at",
    "outbox.member_id",  # the tenant's own staff (operational e-mail), not a data subject
    "domain_events.topic",
    "domain_events.payload",  # type, global ID and changed field names: never values
    "domain_events.delivered_at",
    "webhook_subscriptions.api_key_id",
    "webhook_subscriptions.url",
    "webhook_subscriptions.event_types",
    "webhook_subscriptions.description",
    "webhook_subscriptions.secret",
    "webhook_subscriptions.previous_secret",
    "webhook_subscriptions.previous_expires_at",
    "webhook_subscriptions.secret_rotated_at",
    "webhook_subscriptions.failing_since",
    "webhook_subscriptions.notified_at",
    "webhook_subscriptions.disabled_at",
    "webhook_subscriptions.disabled_reason",
    "webhook_deliveries.subscription_id",
    "webhook_deliveries.event_id",
    "webhook_deliveries.event_type",
    "webhook_deliveries.status",
    "webhook_deliveries.attempts",
    "webhook_deliveries.next_attempt_at",
    "webhook_deliveries.last_attempt_at",
    "webhook_deliveries.last_status_code",
    "webhook_deliveries.last_error",
    "webhook_deliveries.window_started_at",
    "webhook_deliveries.first_failed_at",
    "webhook_deliveries.delivered_at",
    "emails_sent.outbox_id",
    "emails_sent.kind",
    "emails_sent.message_id",
    "emails_sent.sent_at",
}
CATEGORIES = {c.fides_key for c in DEFAULT_TAXONOMY.data_category}
PERSONAL_FIELDS = {
    "Contact": ["email", "fullName", "company", "jobTitle", "phone", "locale"],
    "ConsentEvent": ["action", "evidence", "occurredAt"],
    "Consent": ["state", "granted", "changedAt"],
    "SpaceAccess": ["acceptedAt"],
}


@pytest.mark.parametrize("table", TABLES)
def test_every_column_is_classified(table: str) -> None:
    unclassified, unknown = [], []
    for column in Base.metadata.tables[table].columns:
        category = column.info.get("pii")
        if (
            category is None
            and column.name not in NOT_PERSONAL
            and f"{table}.{column.name}" not in NOT_PERSONAL
        ):
            unclassified.append(column.name)
        if category is not None and category not in CATEGORIES:
            unknown.append(f"{column.name}: {category}")
    assert unclassified == [] and unknown == []


def test_personal_fields_are_nullable() -> None:
    schema = build_schema()._schema
    for type_name, fields in PERSONAL_FIELDS.items():
        for name in fields:
            field = schema.type_map[type_name].fields[name]  # type: ignore[union-attr]
            assert not isinstance(field.type, GraphQLNonNull), f"{type_name}.{name}"
