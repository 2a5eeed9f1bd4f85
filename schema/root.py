"""The API surface in one screen: root fields, their resolvers and their permissions."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from resolvers import (
    account,
    api_keys,
    audit,
    blocks,
    brand,
    consent,
    contacts,
    emails,
    files,
    locales,
    members,
    node,
    persisted,
    plans,
    policies,
    previews,
    schedules,
    space_access,
    spaces,
    subject_requests,
    templates,
    usage,
    viewer,
    webhooks,
)
from resolvers.node import get_nodes
from schema.account import AccountDeletionConfirmPayload, AccountDeletionRequestPayload
from schema.api_keys import ApiKey, ApiKeyPayload, ApiKeySecretPayload
from schema.audit import AuditChainStatus, AuditEntry
from schema.blocks import Block, BlockPayload, BlockRemovePayload
from schema.brand import BrandPayload
from schema.connection import Connection
from schema.consent import ConsentPayload
from schema.contacts import Contact, ContactDeletePayload, ContactImportPayload, ContactPayload
from schema.emails import EmailQueuePayload
from schema.files import Asset, AssetDeletePayload, AssetPayload, AssetUploadStartPayload
from schema.locales import ContentLocales, ContentLocalesPayload
from schema.members import (
    MemberLeavePayload,
    MemberProfile,
    MemberProfilePayload,
    SignIn,
    TenantProfile,
    TenantProfilePayload,
)
from schema.node import Node
from schema.permissions import Authenticated, Can
from schema.persisted import PersistedDocumentPayload
from schema.plans import TenantUsage
from schema.policies import PolicyRule, PolicyRulePayload, PolicyRuleRemovePayload
from schema.previews import PreviewLink, PreviewLinkCreatePayload, PreviewLinkPayload
from schema.revisions import SpaceRevisionDiff
from schema.schedules import SpaceSchedule, SpaceSchedulePayload
from schema.space_access import SpaceAccessPayload, SpaceInvitePayload
from schema.spaces import Space, SpaceDeletePayload, SpacePayload
from schema.subject_requests import SubjectLinkPayload, SubjectRequest, SubjectRequestPayload
from schema.templates import PersonalisationJob, SpacePersonalisePayload
from schema.usage import SpaceAnalytics, UsageRecordPayload
from schema.viewer import Viewer
from schema.webhooks import (
    WebhookDelivery,
    WebhookDeliveryPayload,
    WebhookEventType,
    WebhookSubscription,
    WebhookSubscriptionDeletePayload,
    WebhookSubscriptionPayload,
)


@strawberry.type
class Query:
    viewer: Viewer = strawberry.field(resolver=viewer.get_viewer, extensions=[Authenticated()])
    # every lookup by ID is nullable (Relay): a missing object is null plus NOT_FOUND (or
    # INVALID_ID) at its path, and sibling fields survive; tests/test_lookups.py holds it
    # node() applies the read check of the type the ID names (see resolvers/node.py)
    node: Node | None = strawberry.field(resolver=node.get_node, extensions=[Authenticated()])
    nodes: list[Node | None] = strawberry.field(resolver=get_nodes, extensions=[Authenticated()])
    space_revision_diff: SpaceRevisionDiff | None = strawberry.field(
        resolver=spaces.diff_revisions, extensions=[Can("SpaceRevision", "read")]
    )
    space: Space | None = strawberry.field(
        resolver=spaces.get_space, extensions=[Can("Space", "read")]
    )
    personalisation_job: PersonalisationJob | None = strawberry.field(
        resolver=templates.get_personalisation_job, extensions=[Can("Space", "read")]
    )
    spaces: Connection[Space] = strawberry.field(
        resolver=spaces.list_spaces, extensions=[Can("Space", "read")]
    )
    block: Block | None = strawberry.field(
        resolver=blocks.get_block, extensions=[Can("Block", "read")]
    )
    contact: Contact | None = strawberry.field(
        resolver=contacts.get_contact, extensions=[Can("Contact", "read")]
    )
    content_locales: ContentLocales = strawberry.field(
        resolver=locales.get_content_locales, extensions=[Can("ContentLocales", "read")]
    )
    contacts: Connection[Contact] = strawberry.field(
        resolver=contacts.list_contacts, extensions=[Can("Contact", "read")]
    )
    audit_log: Connection[AuditEntry] = strawberry.field(
        resolver=audit.list_audit_entries, extensions=[Can("AuditEntry", "read")]
    )
    audit_chain: AuditChainStatus = strawberry.field(
        resolver=audit.get_audit_chain_status, extensions=[Can("AuditEntry", "read")]
    )
    subject_request: SubjectRequest | None = strawberry.field(
        resolver=subject_requests.get_subject_request, extensions=[Can("SubjectRequest", "read")]
    )
    subject_requests: Connection[SubjectRequest] = strawberry.field(
        resolver=subject_requests.list_subject_requests,
        extensions=[Can("SubjectRequest", "read")],
    )
    policy_rules: list[PolicyRule] = strawberry.field(
        resolver=policies.list_policy_rules, extensions=[Can("Policy", "manage")]
    )
    # counts suppressed below k contacts unless the caller may read_individual Analytics
    space_analytics: SpaceAnalytics | None = strawberry.field(
        resolver=usage.get_space_analytics, extensions=[Can("Analytics", "read")]
    )
    # a member's own data (docs/privacy.md "Members"): Profile is every role's own record
    my_profile: MemberProfile = strawberry.field(
        resolver=members.get_my_profile, extensions=[Can("Profile", "read")]
    )
    my_data: JSON = strawberry.field(
        resolver=members.export_my_data, extensions=[Can("Profile", "export")]
    )
    my_sign_ins: list[SignIn] = strawberry.field(
        resolver=members.list_my_sign_ins, extensions=[Can("Profile", "read")]
    )
    tenant_usage: TenantUsage = strawberry.field(
        resolver=plans.get_tenant_usage, extensions=[Can("Plan", "read")]
    )
    tenant_profile: TenantProfile = strawberry.field(
        resolver=members.get_tenant_profile, extensions=[Can("TenantProfile", "read")]
    )
    # partners (issue 11): keys for owners and admins; webhooks also for webhooks:manage keys
    api_key: ApiKey | None = strawberry.field(
        resolver=api_keys.get_api_key, extensions=[Can("ApiKey", "read")]
    )
    api_keys: Connection[ApiKey] = strawberry.field(
        resolver=api_keys.list_api_keys, extensions=[Can("ApiKey", "read")]
    )
    webhook_subscription: WebhookSubscription | None = strawberry.field(
        resolver=webhooks.get_webhook_subscription, extensions=[Can("WebhookSubscription", "read")]
    )
    webhook_subscriptions: Connection[WebhookSubscription] = strawberry.field(
        resolver=webhooks.list_webhook_subscriptions,
        extensions=[Can("WebhookSubscription", "read")],
    )
    webhook_deliveries: Connection[WebhookDelivery] = strawberry.field(
        resolver=webhooks.list_webhook_deliveries, extensions=[Can("WebhookSubscription", "read")]
    )
    webhook_event_types: list[WebhookEventType] = strawberry.field(
        resolver=webhooks.list_webhook_event_types, extensions=[Can("WebhookSubscription", "read")]
    )
    # files and images (docs/files.md)
    asset: Asset | None = strawberry.field(
        resolver=files.get_asset, extensions=[Can("Asset", "read")]
    )
    assets: Connection[Asset] = strawberry.field(
        resolver=files.list_assets, extensions=[Can("Asset", "read")]
    )
    # scheduled publishing (docs/content.md, Schedules)
    space_schedules: Connection[SpaceSchedule] = strawberry.field(
        resolver=schedules.list_space_schedules, extensions=[Can("Space", "read")]
    )
    # preview links of drafts (docs/content.md)
    preview_link: PreviewLink | None = strawberry.field(
        resolver=previews.get_preview_link, extensions=[Can("PreviewLink", "read")]
    )
    preview_links: Connection[PreviewLink] = strawberry.field(
        resolver=previews.list_preview_links, extensions=[Can("PreviewLink", "read")]
    )


@strawberry.type
class Mutation:
    space_create: SpacePayload = strawberry.mutation(
        resolver=spaces.create_space, extensions=[Can("Space", "create")]
    )
    space_update: SpacePayload = strawberry.mutation(
        resolver=spaces.update_space, extensions=[Can("Space", "update")]
    )
    space_publish: SpacePayload = strawberry.mutation(
        resolver=spaces.publish_space, extensions=[Can("Space", "publish")]
    )
    space_unpublish: SpacePayload = strawberry.mutation(
        resolver=spaces.unpublish_space, extensions=[Can("Space", "publish")]
    )
    # a restore changes the draft only: an edit (publishing it is `spacePublish`)
    space_restore: SpacePayload = strawberry.mutation(
        resolver=spaces.restore_space, extensions=[Can("Space", "update")]
    )
    space_archive: SpacePayload = strawberry.mutation(
        resolver=spaces.archive_space, extensions=[Can("Space", "publish")]
    )
    space_unarchive: SpacePayload = strawberry.mutation(
        resolver=spaces.unarchive_space,
        extensions=[Can("Space", "publish")],
        description="Bring an archived space back as a draft; publish it to show it again.",
    )
    space_personalise: SpacePersonalisePayload = strawberry.mutation(
        resolver=templates.personalise_template,
        extensions=[Can("Space", "create")],
        description="One personalised space per contact from a template, shared with them: a "
        "job (docs/content.md).",
    )
    space_delete: SpaceDeletePayload = strawberry.mutation(
        resolver=spaces.delete_space, extensions=[Can("Space", "delete")]
    )
    asset_upload: AssetPayload = strawberry.mutation(
        resolver=files.upload_asset, extensions=[Can("Asset", "create")]
    )
    asset_upload_start: AssetUploadStartPayload = strawberry.mutation(
        resolver=files.start_asset_upload, extensions=[Can("Asset", "create")]
    )
    asset_upload_complete: AssetPayload = strawberry.mutation(
        resolver=files.complete_asset_upload, extensions=[Can("Asset", "create")]
    )
    asset_delete: AssetDeletePayload = strawberry.mutation(
        resolver=files.delete_asset, extensions=[Can("Asset", "delete")]
    )
    block_add: BlockPayload = strawberry.mutation(
        resolver=blocks.add_block, extensions=[Can("Block", "create")]
    )
    block_update: BlockPayload = strawberry.mutation(
        resolver=blocks.update_block, extensions=[Can("Block", "update")]
    )
    block_move: BlockPayload = strawberry.mutation(
        resolver=blocks.move_block, extensions=[Can("Block", "update")]
    )
    block_locale_body_set: BlockPayload = strawberry.mutation(
        resolver=locales.set_block_locale_body,
        description="Set a block's body in one of the tenant's locales (docs/content.md).",
        extensions=[Can("Block", "update")],
    )
    block_locale_body_clear: BlockPayload = strawberry.mutation(
        resolver=locales.clear_block_locale_body,
        description="Remove a block's body in a locale; reads fall back along the chain.",
        extensions=[Can("Block", "update")],
    )
    block_remove: BlockRemovePayload = strawberry.mutation(
        resolver=blocks.remove_block, extensions=[Can("Block", "delete")]
    )
    contact_create: ContactPayload = strawberry.mutation(
        resolver=contacts.create_contact, extensions=[Can("Contact", "create")]
    )
    contact_update: ContactPayload = strawberry.mutation(
        resolver=contacts.update_contact, extensions=[Can("Contact", "update")]
    )
    contact_delete: ContactDeletePayload = strawberry.mutation(
        resolver=contacts.delete_contact, extensions=[Can("Contact", "delete")]
    )
    contact_import: ContactImportPayload = strawberry.mutation(
        resolver=contacts.import_contacts, extensions=[Can("Contact", "create")]
    )
    space_invite: SpaceInvitePayload = strawberry.mutation(
        resolver=space_access.invite_to_space, extensions=[Can("SpaceAccess", "create")]
    )
    space_access_revoke: SpaceAccessPayload = strawberry.mutation(
        resolver=space_access.revoke_space_access, extensions=[Can("SpaceAccess", "delete")]
    )
    space_notify: EmailQueuePayload = strawberry.mutation(
        resolver=emails.notify_space, extensions=[Can("Email", "create")]
    )
    marketing_email_queue: EmailQueuePayload = strawberry.mutation(
        resolver=emails.queue_marketing, extensions=[Can("MarketingEmail", "create")]
    )
    consent_grant: ConsentPayload = strawberry.mutation(
        resolver=consent.grant_consent, extensions=[Can("Consent", "create")]
    )
    consent_withdraw: ConsentPayload = strawberry.mutation(
        resolver=consent.withdraw_consent, extensions=[Can("Consent", "create")]
    )
    usage_record: UsageRecordPayload = strawberry.mutation(
        resolver=usage.record_usage, extensions=[Can("UsageEvent", "create")]
    )
    policy_rule_set: PolicyRulePayload = strawberry.mutation(
        resolver=policies.set_policy_rule, extensions=[Can("Policy", "manage")]
    )
    policy_rule_remove: PolicyRuleRemovePayload = strawberry.mutation(
        resolver=policies.remove_policy_rule, extensions=[Can("Policy", "manage")]
    )
    # subjects (magic-link tokens) file and verify requests about themselves only
    subject_access_request: SubjectRequestPayload = strawberry.mutation(
        resolver=subject_requests.file_access_request, extensions=[Can("SubjectRequest", "create")]
    )
    subject_portability_request: SubjectRequestPayload = strawberry.mutation(
        resolver=subject_requests.file_portability_request,
        extensions=[Can("SubjectRequest", "create")],
    )
    subject_correction_request: SubjectRequestPayload = strawberry.mutation(
        resolver=subject_requests.file_correction_request,
        extensions=[Can("SubjectRequest", "create")],
    )
    subject_erasure_request: SubjectRequestPayload = strawberry.mutation(
        resolver=subject_requests.file_erasure_request, extensions=[Can("SubjectRequest", "create")]
    )
    subject_request_verify: SubjectRequestPayload = strawberry.mutation(
        resolver=subject_requests.verify_request, extensions=[Can("SubjectRequest", "update")]
    )
    subject_request_process: SubjectRequestPayload = strawberry.mutation(
        resolver=subject_requests.process_request, extensions=[Can("SubjectRequest", "manage")]
    )
    subject_request_reject: SubjectRequestPayload = strawberry.mutation(
        resolver=subject_requests.reject_request, extensions=[Can("SubjectRequest", "manage")]
    )
    subject_request_extend: SubjectRequestPayload = strawberry.mutation(
        resolver=subject_requests.extend_request, extensions=[Can("SubjectRequest", "manage")]
    )
    member_profile_update: MemberProfilePayload = strawberry.mutation(
        resolver=members.update_my_profile, extensions=[Can("Profile", "update")]
    )
    member_leave: MemberLeavePayload = strawberry.mutation(
        resolver=members.leave_tenant, extensions=[Can("Profile", "delete")]
    )
    tenant_profile_update: TenantProfilePayload = strawberry.mutation(
        resolver=members.update_tenant_profile, extensions=[Can("TenantProfile", "update")]
    )
    content_locales_update: ContentLocalesPayload = strawberry.mutation(
        resolver=locales.update_content_locales,
        description="Set the tenant's content locales and default (docs/content.md, Locales).",
        extensions=[Can("ContentLocales", "update")],
    )
    brand_update: BrandPayload = strawberry.mutation(
        resolver=brand.update_brand,
        description="Set the brand the tenant's widgets show (docs/widget.md, Theming).",
        extensions=[Can("Brand", "update")],
    )
    # the whole account, now and for good (owners; docs/privacy.md "Account deletion")
    account_deletion_request: AccountDeletionRequestPayload = strawberry.mutation(
        resolver=account.request_account_deletion, extensions=[Can("Account", "delete")]
    )
    account_deletion_confirm: AccountDeletionConfirmPayload = strawberry.mutation(
        resolver=account.confirm_account_deletion, extensions=[Can("Account", "delete")]
    )
    subject_link_create: SubjectLinkPayload = strawberry.mutation(
        resolver=subject_requests.create_subject_link, extensions=[Can("SubjectRequest", "manage")]
    )
    persisted_document_register: PersistedDocumentPayload = strawberry.mutation(
        resolver=persisted.register_persisted_document,
        extensions=[Can("PersistedDocument", "create")],
    )
    space_schedule: SpaceSchedulePayload = strawberry.mutation(
        resolver=schedules.set_space_schedule, extensions=[Can("Space", "publish")]
    )
    preview_link_create: PreviewLinkCreatePayload = strawberry.mutation(
        resolver=previews.create_preview_link, extensions=[Can("PreviewLink", "create")]
    )
    preview_link_revoke: PreviewLinkPayload = strawberry.mutation(
        resolver=previews.revoke_preview_link, extensions=[Can("PreviewLink", "delete")]
    )
    api_key_create: ApiKeySecretPayload = strawberry.mutation(
        resolver=api_keys.create_api_key, extensions=[Can("ApiKey", "create")]
    )
    api_key_rotate: ApiKeySecretPayload = strawberry.mutation(
        resolver=api_keys.rotate_api_key, extensions=[Can("ApiKey", "update")]
    )
    api_key_revoke: ApiKeyPayload = strawberry.mutation(
        resolver=api_keys.delete_api_key, extensions=[Can("ApiKey", "delete")]
    )
    webhook_subscription_create: WebhookSubscriptionPayload = strawberry.mutation(
        resolver=webhooks.create_webhook_subscription,
        extensions=[Can("WebhookSubscription", "create")],
    )
    webhook_subscription_delete: WebhookSubscriptionDeletePayload = strawberry.mutation(
        resolver=webhooks.delete_webhook_subscription,
        extensions=[Can("WebhookSubscription", "delete")],
    )
    webhook_subscription_rotate_secret: WebhookSubscriptionPayload = strawberry.mutation(
        resolver=webhooks.rotate_webhook_secret,
        extensions=[Can("WebhookSubscription", "update")],
    )
    webhook_delivery_retry: WebhookDeliveryPayload = strawberry.mutation(
        resolver=webhooks.retry_webhook_delivery, extensions=[Can("WebhookSubscription", "update")]
    )
