"""Members' own data: their profile, their sign-ins, the tenant's billing profile."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from models import Member as MemberModel
from models import SignIn as SignInModel
from models import TenantProfile as TenantProfileModel
from schema.errors import UserError


@strawberry.type(description="The calling member's own profile. It is theirs: never redacted.")
class MemberProfile:
    email: str
    role: str
    full_name: str | None
    company: str | None
    address: str | None

    @classmethod
    def from_model(cls, row: MemberModel) -> MemberProfile:
        return cls(
            email=row.email,
            role=row.role,
            full_name=row.full_name,
            company=row.company,
            address=row.address,
        )


@strawberry.type(
    description="One session start: when, the browser family, and the network truncated to "
    "/24 (IPv4) or /48 (IPv6). Never the full address or user agent."
)
class SignIn:
    occurred_at: datetime
    user_agent_family: str | None
    network: str | None

    @classmethod
    def from_model(cls, row: SignInModel) -> SignIn:
        return cls(
            occurred_at=row.occurred_at,
            user_agent_family=row.user_agent_family,
            network=row.network,
        )


@strawberry.type(description="Who the customer is, for billing (owners only).")
class TenantProfile:
    company_name: str | None
    billing_contact_name: str | None
    billing_email: str | None
    billing_address: str | None

    @classmethod
    def from_model(cls, row: TenantProfileModel | None) -> TenantProfile:
        if row is None:
            return cls(
                company_name=None,
                billing_contact_name=None,
                billing_email=None,
                billing_address=None,
            )
        return cls(
            company_name=row.company_name,
            billing_contact_name=row.billing_contact_name,
            billing_email=row.billing_email,
            billing_address=row.billing_address,
        )


@strawberry.enum
class MemberErrorCode(enum.Enum):
    TOO_LONG = "too_long"
    INVALID_CHARACTERS = "invalid_characters"
    INVALID_EMAIL = "invalid_email"
    LAST_OWNER = "last_owner"


@strawberry.type(description="Why a profile change or departure was refused; nothing changed.")
class MemberUserError(UserError):
    code: MemberErrorCode


@strawberry.input(description='Omitted fields stay as they are; "" clears a field.')
class MemberProfileUpdateInput:
    full_name: str | None = None
    company: str | None = None
    address: str | None = None


@strawberry.input(description='Omitted fields stay as they are; "" clears a field.')
class TenantProfileUpdateInput:
    company_name: str | None = None
    billing_contact_name: str | None = None
    billing_email: str | None = None
    billing_address: str | None = None


@strawberry.type
class MemberProfilePayload:
    profile: MemberProfile | None = None
    user_errors: list[MemberUserError] = strawberry.field(default_factory=list)


@strawberry.type
class TenantProfilePayload:
    profile: TenantProfile | None = None
    user_errors: list[MemberUserError] = strawberry.field(default_factory=list)


@strawberry.type
class MemberLeavePayload:
    left: bool = False
    user_errors: list[MemberUserError] = strawberry.field(default_factory=list)
