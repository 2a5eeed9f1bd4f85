"""`consentGrant` on the fast lane: `app_consent_grant`, the grant the resolver writes
(resolvers/consent.py `grant_consent`) as one statement.

Given the principal and the token hash (as `app_block_update` takes them, migration 0021) it
scopes its transaction to the tenant and re-checks the credential, then does what the
resolver does: locks the contact exclusively (usage recording and e-mail sending hold it
shared while they check consent), appends the ledger row (its ID made by the caller, as the
resolver makes it; `recorded_by` the token the check vouched for), the `consent_granted`
audit entry (for the principal `app_authenticate` signs in, as every audit entry; the
request's ID) and the `consent.granted` domain event. No ledger row back: an unknown or
erased contact, the credential changed or the subscription ended; nothing written, the
whole way answers.

Only the lane calls it (the resolver keeps its path, with its user errors); without a
principal it writes nothing.

Revision ID: 0049
Revises: 0048
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None

CONSENT_GRANT = by_revision("0024").lane_write(
    "app_consent_grant",
    "p_id uuid, p_contact uuid, p_purpose text, p_source text, p_policy_version text, "
    "p_evidence text, p_request varchar, p_event jsonb",
    "event",  # the payload's field (compiler/writes.py)
    "consent_events",
    "v_row consent_events;",
    """
        -- whose grant it is comes from the credential: without one, the whole way records it
        IF p_who IS NOT NULL THEN
            PERFORM 1 FROM contacts AS c
             WHERE c.tenant_id = p_tenant AND c.id = p_contact
               FOR UPDATE;
            IF FOUND THEN
                INSERT INTO consent_events (id, tenant_id, contact_id, purpose, action, source,
                                            policy_version, evidence, recorded_by)
                VALUES (p_id, p_tenant, p_contact, p_purpose, 'granted', p_source,
                        p_policy_version, p_evidence, (p_who->>0)::uuid)
                RETURNING * INTO v_row;
                -- audit_append names the principal app_authenticate signs in (migration
                -- 0010), as the whole way's request and the lane's audited reads do
                PERFORM 1 FROM app_authenticate(p_token_hash);
                PERFORM audit_append(p_who->>1, coalesce(p_who->>2, p_who->>0)::uuid, p_request,
                    jsonb_build_array(jsonb_build_object(
                        'operation', 'consent_granted',
                        'fields', jsonb_build_array('consents'),
                        'subjects', jsonb_build_array(p_contact::text))));
                PERFORM app_emit_events(p_tenant, 'consent.granted', ARRAY[p_event]);
                event := v_row;
            END IF;
        END IF;
    """,
)

SIGNATURE = (
    "app_consent_grant(uuid, uuid, uuid, text, text, text, text, varchar, jsonb, jsonb, bytea)"
)


def upgrade() -> None:
    op.execute(CONSENT_GRANT)
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
