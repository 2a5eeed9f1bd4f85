"""A remembered member's or partner's principal checked by its tenant's credentials epoch.

The fast lane answers a remembered principal in one statement that checks the credential
again. Until now that check looked the token up by its hash and rebuilt the principal from
three tables under row-level security (`api_tokens`, `members`, `tenants`): about a fifth of
PostgreSQL's instructions for a q1 read or a `blockUpdate` (bench/README.md).

`tenants.credentials_epoch` counts the changes to the tenant's credentials: every UPDATE or
DELETE of one of its `api_tokens` rows (revoked, rotated, expiry moved, scopes or origins
changed, deleted with its member) and every change of a member's role or removal bumps it,
in the transaction of the change (`app_credentials_changed`). A principal authenticated the
whole way is remembered with the epoch `app_authenticate` now returns beside its row (one
query, one snapshot: never a newer epoch than the principal) and the moment its secret
stops being valid. A lane statement for it then only reads the
tenant's row: the same epoch (nothing the principal was built from has changed since), the
same policy version, the secret still valid, the Origin in the tenant's allow-list
(`app_lane_known` for reads, `app_lane_check_known` for writes). Anything else refuses, and
the whole way authenticates again.

Only members and partners take this check: their principal is built from their own token,
member and tenant rows, and their allow-list is the tenant's `cors_origins`, read live.
Widgets, previews and visitors keep the token lookup (a preview's allow-list follows other
keys' expiry, which no write marks).

Revision ID: 0061
Revises: 0060
"""

import textwrap

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None


def _replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# each tenant's count starts at its own random value: a principal's epoch means nothing for
# another tenant's row
COLUMN = (
    "ALTER TABLE tenants ADD COLUMN credentials_epoch bigint NOT NULL "
    "DEFAULT floor(random() * 1e15)::bigint"
)

# whoever may change a tenant's token or member row (row-level security: that tenant set, or
# a superuser) may update that tenant's row; a cascade from the tenant's own deletion finds
# no row, and no principal of it can pass a check again
CHANGED = """
CREATE FUNCTION app_credentials_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.tenants SET credentials_epoch = credentials_epoch + 1
     WHERE id = OLD.tenant_id;
    RETURN NULL;
END
$$
"""
TRIGGERS = (
    (
        "CREATE TRIGGER api_tokens_credentials_changed AFTER UPDATE OR DELETE ON api_tokens "
        "FOR EACH ROW EXECUTE FUNCTION app_credentials_changed()"
    ),
    (
        "CREATE TRIGGER members_credentials_changed "
        "AFTER UPDATE OF role, id, tenant_id OR DELETE ON members "
        "FOR EACH ROW EXECUTE FUNCTION app_credentials_changed()"
    ),
)

# the principal's row as `app_token_check` gives it (migration 0016), in the same query:
# with its tenant's credentials epoch and when the secret stops being valid, read in the
# same snapshot as the rest of the principal
AUTHENTICATED_ROW = """    RETURN QUERY SELECT * FROM app_token_check(p_token_hash);
"""
AUTHENTICATED_WITH_EPOCH = """    RETURN QUERY
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes, tn.policy_version,
           t.contact_id, tn.credentials_epoch,
           CASE WHEN t.token_hash = p_token_hash THEN t.expires_at
                ELSE least(t.expires_at, t.previous_expires_at) END
      FROM app_token_match(p_token_hash) t
      JOIN tenants tn ON tn.id = t.tenant_id
      LEFT JOIN members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id;
"""
COLUMNS = "policy_version integer, contact_id uuid)"
COLUMNS_WITH_EPOCH = (
    "policy_version integer, contact_id uuid,\n"
    "               epoch bigint, valid_until timestamptz)"
)


def _authenticate() -> str:
    text: str = by_revision("0016").AUTHENTICATE
    text = _replaced(text, COLUMNS, COLUMNS_WITH_EPOCH)
    return _replaced(text, AUTHENTICATED_ROW, AUTHENTICATED_WITH_EPOCH)


# inlined into the lane's read as `app_lane_scope` is (migration 0056): the tenant set in a
# subquery of its own, the tenant's row read on the inner side of the nested loop under it
KNOWN = """
CREATE FUNCTION app_lane_known(
    p_tenant uuid, p_epoch bigint, p_until timestamptz, p_policy integer,
    p_origin text DEFAULT NULL)
RETURNS TABLE(ok boolean)
LANGUAGE sql STABLE ROWS 1 AS $$
    SELECT true
    FROM (SELECT set_config('app.tenant_id', p_tenant::text, true) AS tenant OFFSET 0) s
    CROSS JOIN LATERAL (
        SELECT 1 FROM public.tenants t
         WHERE t.id = public.app_current_tenant() AND t.id IS NOT DISTINCT FROM p_tenant
           AND s.tenant IS NOT NULL
           AND t.credentials_epoch = p_epoch AND t.policy_version = p_policy
           AND (p_until IS NULL OR p_until > now())
           AND (p_origin IS NULL OR p_origin = ANY (t.cors_origins))
        OFFSET 0) x
$$
"""

# `p_who`: {"epoch", "policy", "until" (seconds since 1970, or null), "origin" (or null)};
# anything else (a principal as an array, as with a credential's hash) is not the same
CHECK_KNOWN = """
CREATE FUNCTION app_lane_check_known(p_tenant uuid, p_who jsonb)
RETURNS TABLE(same boolean, ended boolean)
LANGUAGE sql STABLE ROWS 1 AS $$
    SELECT coalesce(
               t.credentials_epoch = (p_who ->> 'epoch')::bigint
               AND t.policy_version = (p_who ->> 'policy')::integer
               AND (p_who ->> 'until' IS NULL
                    OR to_timestamp((p_who ->> 'until')::float8) > now())
               AND (p_who ->> 'origin' IS NULL OR p_who ->> 'origin' = ANY (t.cors_origins)),
               false),
           t.subscription_status = 'ended'
           AND (t.subscription_ends_at IS NULL OR t.subscription_ends_at <= now())
      FROM public.tenants t
     WHERE t.id = public.app_current_tenant() AND t.id IS NOT DISTINCT FROM p_tenant
$$
"""

# the lane's unaudited writes: no credential's hash is the known check (a principal given as
# an array with no hash matches nothing there either)
CHECK = """        SELECT c.same, c.ended INTO same, v_ended
          FROM app_lane_check(p_tenant, p_who, p_token_hash) AS c;
"""
BY_KNOWN = """        IF p_token_hash IS NULL THEN
            SELECT c.same, c.ended INTO same, v_ended
              FROM app_lane_check_known(p_tenant, p_who) AS c;
"""
CHECK_OR_KNOWN = f"{BY_KNOWN}        ELSE\n{textwrap.indent(CHECK, '    ')}        END IF;\n"
BY_ORIGIN = "        IF p_who ->> 6 IS NULL THEN\n"
KNOWN_OR_BY_ORIGIN = f"{BY_KNOWN}        ELSIF p_who ->> 6 IS NULL THEN\n"


def _writes() -> list[tuple[str, str]]:
    """Each lane write's current text (migrations 0052 and 0060), and with the known check.
    Not `app_consent_grant`: its audit entry's principal is signed in by the credential
    (`app_authenticate`), so it keeps the token's check."""
    previous = by_revision("0052")
    current = [
        previous.inserting(text, topic)
        for topic, text in previous._previous().items()
        if topic != "consent.granted"
    ]
    texts = [(text, _replaced(text, CHECK, CHECK_OR_KNOWN)) for text in current]
    block_update: str = by_revision("0060")._block_update()
    texts.append((block_update, _replaced(block_update, BY_ORIGIN, KNOWN_OR_BY_ORIGIN)))
    return texts


def _grant(signature: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def upgrade() -> None:
    op.execute(COLUMN)
    op.execute(CHANGED)
    for trigger in TRIGGERS:
        op.execute(trigger)
    # its result's columns change: a new function (its callers name the columns they read)
    op.execute("DROP FUNCTION app_authenticate(bytea)")
    op.execute(_authenticate())
    for function in (KNOWN, CHECK_KNOWN):
        op.execute(function)
    for signature in (
        "app_authenticate(bytea)",
        "app_lane_known(uuid, bigint, timestamptz, integer, text)",
        "app_lane_check_known(uuid, jsonb)",
    ):
        _grant(signature)
    for _old, new in _writes():
        op.execute(new)


def downgrade() -> None:
    for old, _new in _writes():
        op.execute(old)
    op.execute("DROP FUNCTION app_lane_check_known(uuid, jsonb)")
    op.execute("DROP FUNCTION app_lane_known(uuid, bigint, timestamptz, integer, text)")
    op.execute("DROP FUNCTION app_authenticate(bytea)")
    op.execute(by_revision("0016").AUTHENTICATE)
    _grant("app_authenticate(bytea)")
    op.execute("DROP TRIGGER members_credentials_changed ON members")
    op.execute("DROP TRIGGER api_tokens_credentials_changed ON api_tokens")
    op.execute("DROP FUNCTION app_credentials_changed()")
    op.execute("ALTER TABLE tenants DROP COLUMN credentials_epoch")
