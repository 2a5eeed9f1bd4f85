"""The one place that calls Casbin. Everything else asks an `Authorizer`."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import casbin
from sqlalchemy import select

from core.auth import Principal
from core.db import Db
from models.audit import PolicyRule
from policies.redaction import Decision, decide

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE / "model.conf"
POLICY_PATH = HERE / "policy.csv"


def load_enforcer(policy_path: Path = POLICY_PATH) -> casbin.Enforcer:
    """Load the model and default policy once, at start-up."""
    enforcer = casbin.Enforcer(str(MODEL_PATH))
    # pycasbin logs every denied check as a WARNING: a denial is an answer, not an incident
    logging.getLogger("casbin.enforcer").setLevel(logging.ERROR)
    for row in read_policy_rows(policy_path):
        if row[0] == "p":
            enforcer.add_policy(*row[1:])
        elif row[0] == "g":
            enforcer.add_grouping_policy(*row[1:])
    return enforcer


def read_policy_rows(policy_path: Path = POLICY_PATH) -> list[list[str]]:
    """The policy file's rows, comments and blank lines skipped (tests build matrices on it)."""
    rows = []
    with policy_path.open() as fh:
        for raw in csv.reader(fh, skipinitialspace=True):
            if not raw or raw[0].lstrip().startswith("#"):
                continue
            rows.append([cell.strip() for cell in raw])
    return rows


class TenantPolicies:
    """Each tenant's overrides, kept in the shared enforcer under the tenant's domain.

    A tenant's rows are reloaded when its policy_version (returned with the token lookup)
    differs from the one loaded here, so an edit takes effect on the next request in every
    process, at the cost of one statement for the first request after it.
    """

    # decisions kept across requests; past this many, start afresh (a bound, not a tuning)
    MAX_DECISIONS = 100_000

    def __init__(self, enforcer: casbin.Enforcer) -> None:
        self.enforcer = enforcer
        self._versions: dict[str, int] = {}
        self._with_rules: set[str] = set()
        self._decisions: dict[tuple[str, str, str, str], bool] = {}
        self.enforce_calls = 0

    def is_current(self, tenant_id: str, version: int) -> bool:
        return self._versions.get(tenant_id, 0) == version

    def replace(self, tenant_id: str, version: int, rules: list[tuple[str, str, str, str]]) -> None:
        """Swap in a tenant's rules (subject, object, action, effect); no await in between."""
        self.enforcer.remove_filtered_policy(1, tenant_id)
        for subject, obj, action, effect in rules:
            self.enforcer.add_policy(subject, tenant_id, obj, action, effect)
        self._versions[tenant_id] = version
        if rules:
            self._with_rules.add(tenant_id)
        else:
            self._with_rules.discard(tenant_id)
        self._decisions = {k: v for k, v in self._decisions.items() if k[1] != tenant_id}

    def decide(self, subject: str, tenant_id: str, obj: str, act: str) -> bool:
        """Casbin's answer, cached: the policy changes only through `replace`. Tenants without
        overrides share one set of answers (the default rules match every domain)."""
        key = (subject, tenant_id if tenant_id in self._with_rules else "", obj, act)
        decision = self._decisions.get(key)
        if decision is None:
            self.enforce_calls += 1
            decision = bool(self.enforcer.enforce(subject, tenant_id, obj, act))
            if len(self._decisions) >= self.MAX_DECISIONS:
                self._decisions = {}
            self._decisions[key] = decision
        return decision

    def scope(self, tenant_id: str) -> tuple[str, int]:
        """Which rules decide for this tenant: the shared defaults, or its own version."""
        if tenant_id in self._with_rules:
            return tenant_id, self._versions.get(tenant_id, 0)
        return "", 0

    def forget_decisions(self) -> None:
        self._decisions = {}


async def load_tenant_policies(db: Db, store: TenantPolicies, principal: Principal) -> None:
    """Bring the principal's tenant's overrides up to date (one statement when they changed)."""
    tenant = str(principal.tenant_id)
    if store.is_current(tenant, principal.policy_version):
        return
    rows = (
        await db.execute(
            select(PolicyRule.subject, PolicyRule.object, PolicyRule.action, PolicyRule.effect)
        )
    ).all()
    store.replace(tenant, principal.policy_version, [tuple(r) for r in rows])


class Authorizer:
    """Decisions for one principal in one request, memoised by (object, act).

    Casbin calls per request therefore grow with the schema, never with the rows; with
    `policies`, answers are also shared across requests until the policy changes.
    """

    def __init__(
        self,
        enforcer: casbin.Enforcer,
        principal: Principal,
        policies: TenantPolicies | None = None,
    ) -> None:
        self._enforce = policies.decide if policies is not None else enforcer.enforce
        self._policies = policies
        self._principal = principal
        self._domain = str(principal.tenant_id) if principal.tenant_id else ""
        self._memo: dict[tuple[str, str], bool] = {}
        self._fields: dict[str, Decision] = {}
        self.calls = 0

    def identity(self) -> tuple[object, ...]:
        """What every decision of this authorizer depends on (a key for cached plans)."""
        p = self._principal
        scope = self._policies.scope(self._domain) if self._policies else (self._domain, 0)
        return (p.kind, p.authenticated, p.subjects, scope)

    def for_principal(self, principal: Principal) -> Authorizer:
        """The same policies (tenant overrides included) asked for another principal: what a
        key could do, answered for the member reviewing it."""
        other = Authorizer.__new__(Authorizer)
        other._enforce = self._enforce
        other._principal = principal
        other._domain = self._domain
        other._policies = self._policies
        other._memo, other._fields, other.calls = {}, {}, 0
        return other

    def field_decision(self, obj: str) -> Decision:
        """The redaction decision for a personal field, memoised like `can`."""
        decision = self._fields.get(obj)
        if decision is None:
            decision = self._fields[obj] = decide(self, obj)
        return decision

    def can(self, obj: str, act: str) -> bool:
        key = (obj, act)
        decision = self._memo.get(key)
        if decision is None:
            decision = self._decide(obj, act)
            self._memo[key] = decision
        return decision

    def _decide(self, obj: str, act: str) -> bool:
        if not self._principal.authenticated:
            return False
        for subject in self._principal.subjects:
            self.calls += 1
            if self._enforce(subject, self._domain, obj, act):
                return True
        return False


# policy subjects that are not partner scopes: member roles and the fixed principals
NOT_SCOPES = frozenset(
    {
        "owner",
        "admin",
        "editor",
        "viewer",
        "privacy_officer",
        "widget",
        "subject",
        "visitor",
        "preview",
    }
)


def partner_scopes(policy_path: Path = POLICY_PATH) -> list[str]:
    """The scopes a partner key may hold: every subject the default policy names that is
    not a role or a fixed principal (so a new scope exists the day its lines are added)."""
    subjects = {row[1] for row in read_policy_rows(policy_path) if row[0] == "p"}
    return sorted(subjects - NOT_SCOPES)


def policy_types(policy_path: Path = POLICY_PATH) -> list[str]:
    """The types the default policy speaks of (`Contact` and `Contact.email` both name Contact)."""
    objects = {row[3].split(".")[0] for row in read_policy_rows(policy_path) if row[0] == "p"}
    return sorted(o for o in objects if o != "*")
