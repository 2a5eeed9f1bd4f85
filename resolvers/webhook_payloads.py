"""What a webhook delivers about each type: the GraphQL read that builds the object (run as
the subscribing key, so redaction is exactly a GraphQL read's) and a sample of it."""

from __future__ import annotations

import uuid
from typing import Any

from core.ids import encode_id
from models import EVENT_TYPES
from schema.personal_data import REASON
from store.events import envelope

# object type -> the read, aliased `object`; types without one deliver ids and fields only
READS: dict[str, str] = {
    "Space": "query($id: ID!) { object: space(id: $id) { id title slug description status "
    "publishedAt createdAt updatedAt } }",
    "Block": "query($id: ID!) { object: block(id: $id) { id kind position body createdAt "
    "updatedAt space { id } } }",
    "Contact": "query($id: ID!) { object: contact(id: $id) { id email fullName company "
    "jobTitle phone locale createdAt updatedAt } }",
    "SpaceAccess": "query($id: ID!) { object: node(id: $id) { ... on SpaceAccess { id state "
    "invitedAt acceptedAt revokedAt } } }",
    "ConsentEvent": "query($id: ID!) { object: node(id: $id) { ... on ConsentEvent { id "
    "purpose action source policyVersion evidence occurredAt } } }",
    "SubjectRequest": "query($id: ID!) { object: subjectRequest(id: $id) { id kind state "
    "subjectEmail receivedAt dueAt completedAt rejectionReason } }",
    # no `url`: a signed link is a live capability, not for a receiver's logs
    "Asset": "query($id: ID!) { object: asset(id: $id) { id name kind mediaType byteSize "
    "width height createdAt } }",
}

# the policy object whose `read` a subscriber needs for each type (as the root fields check)
READ_GATES = {"ConsentEvent": "Consent", "PolicyRule": "Policy"}

SAMPLE_TIME = "2026-01-15T09:30:00+00:00"
SAMPLE_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
SAMPLES: dict[str, dict[str, Any]] = {
    "Space": {
        "title": "Onboarding",
        "slug": "onboarding",
        "description": "",
        "status": "PUBLISHED",
        "publishedAt": SAMPLE_TIME,
        "createdAt": SAMPLE_TIME,
        "updatedAt": SAMPLE_TIME,
    },
    "Block": {
        "kind": "HEADING",
        "position": 0,
        "body": {"text": "Welcome", "level": 1},
        "createdAt": SAMPLE_TIME,
        "updatedAt": SAMPLE_TIME,
        "space": {"id": encode_id("Space", SAMPLE_ID)},
    },
    "Contact": {
        "email": "j***@example.com",
        "fullName": "J*** D***",
        "company": None,
        "jobTitle": None,
        "phone": None,
        "locale": None,
        "createdAt": SAMPLE_TIME,
        "updatedAt": SAMPLE_TIME,
    },
    "SpaceAccess": {
        "state": "INVITED",
        "invitedAt": SAMPLE_TIME,
        "acceptedAt": None,
        "revokedAt": None,
    },
    "ConsentEvent": {
        "purpose": "MARKETING_EMAIL",
        "action": "WITHDRAWN",
        "source": "API",
        "policyVersion": None,
        "evidence": None,
        "occurredAt": SAMPLE_TIME,
    },
    "Asset": {
        "name": "price-list.pdf",
        "kind": "DOCUMENT",
        "mediaType": "application/pdf",
        "byteSize": 48213,
        "width": None,
        "height": None,
        "createdAt": SAMPLE_TIME,
    },
    "SubjectRequest": {
        "kind": "ERASURE",
        "state": "COMPLETED",
        "subjectEmail": None,
        "receivedAt": SAMPLE_TIME,
        "dueAt": SAMPLE_TIME,
        "completedAt": SAMPLE_TIME,
        "rejectionReason": None,
    },
}


def sample_payload(topic: str) -> dict[str, Any]:
    """A delivery body for this event type, with example values (as a contacts:read key
    would see a contact: masked)."""
    type_name = EVENT_TYPES[topic][0]
    gid = encode_id(type_name, SAMPLE_ID)
    fields = ["email"] if topic == "contact.updated" else []
    gone = topic.endswith((".deleted", ".erased")) or type_name not in SAMPLES
    obj = None if gone else {"id": gid, **SAMPLES[type_name]}
    redactions: list[Any] = []
    if obj is not None and type_name == "Contact":
        redactions = [
            {"path": ["object", f], "category": c, "reason": REASON}
            for f, c in (("jobTitle", "user.job_title"), ("phone", "user.contact.phone_number"))
        ]
        obj["jobTitle"] = obj["phone"] = None
    ref = {"type": type_name, "id": gid, "fields": fields}
    return envelope(topic, SAMPLE_ID, SAMPLE_TIME, ref, obj, redactions)
