"""SQLAlchemy models. Importing this package registers the tenancy listener."""

from models import tenancy as tenancy
from models.base import Base, TenantScoped
from models.block import Block, BlockKind
from models.space import Space, SpaceStatus
from models.tenant import ApiToken, Member, Role, SubscriptionStatus, Tenant, TokenKind

__all__ = [
    "ApiToken",
    "Base",
    "Block",
    "BlockKind",
    "Member",
    "Role",
    "Space",
    "SpaceStatus",
    "SubscriptionStatus",
    "Tenant",
    "TenantScoped",
    "TokenKind",
]
