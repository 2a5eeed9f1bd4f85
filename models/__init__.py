"""SQLAlchemy models. Importing this package registers the tenancy listener."""

from models import tenancy as tenancy
from models.account import AccountDeletion, TenantProfile
from models.asset import Asset, AssetKind, AssetState
from models.audit import AuditEntry, PolicyRule
from models.base import Base, TenantScoped
from models.block import Block, BlockKind
from models.consent import ConsentAction, ConsentEvent, ConsentPurpose, ConsentSource
from models.contact import Contact
from models.domain_event import EVENT_TYPES, DomainEvent
from models.journal import ErasureJournalEntry, JournalKind
from models.outbox import EmailKind, EmailSent, OutboxMessage, OutboxStatus
from models.persisted import PersistedDocument
from models.personalisation import JobState, PersonalisationJob, PersonalisationJobContact
from models.plan import TenantPlan
from models.revision import BlockRevision, SpaceRevision
from models.schedule import ScheduleAction, SpaceSchedule
from models.sign_in import SignIn
from models.space import Space, SpaceStatus
from models.space_access import AccessState, SpaceAccess
from models.subject_request import (
    RequestKind,
    RequestState,
    SubjectRequest,
    SubjectRequestEvent,
    Suppression,
)
from models.tenant import ApiToken, Member, Role, SubscriptionStatus, Tenant, TokenKind
from models.usage import UsageEvent
from models.webhook import DeliveryStatus, WebhookDelivery, WebhookSubscription

__all__ = [
    "EVENT_TYPES",
    "AccessState",
    "AccountDeletion",
    "ApiToken",
    "Asset",
    "AssetKind",
    "AssetState",
    "AuditEntry",
    "Base",
    "Block",
    "BlockKind",
    "BlockRevision",
    "ConsentAction",
    "ConsentEvent",
    "ConsentPurpose",
    "ConsentSource",
    "Contact",
    "DeliveryStatus",
    "DomainEvent",
    "EmailKind",
    "EmailSent",
    "ErasureJournalEntry",
    "JobState",
    "JournalKind",
    "Member",
    "OutboxMessage",
    "OutboxStatus",
    "PersistedDocument",
    "PersonalisationJob",
    "PersonalisationJobContact",
    "PolicyRule",
    "RequestKind",
    "RequestState",
    "Role",
    "ScheduleAction",
    "SignIn",
    "Space",
    "SpaceAccess",
    "SpaceRevision",
    "SpaceSchedule",
    "SpaceStatus",
    "SubjectRequest",
    "SubjectRequestEvent",
    "SubscriptionStatus",
    "Suppression",
    "Tenant",
    "TenantPlan",
    "TenantProfile",
    "TenantScoped",
    "TokenKind",
    "UsageEvent",
    "WebhookDelivery",
    "WebhookSubscription",
]
