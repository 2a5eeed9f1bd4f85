"""What a subscription listens to, and the query each of its events runs.

A subscription document has one root field, a topic (`spaceChanged`, ...). It is checked
against the schema once, when subscribed, and rewritten into a query: the topic's field
becomes the query field of `Topic.query_field` (with the subscriber's alias and selection),
given the id of the object the event is about in the variable `liveObjectId`. That query
is what runs for each event, through the HTTP path, so its answer (data, errors, redaction
report) is the answer the subscriber would get by querying at that moment.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableDefinitionNode,
    VariableNode,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.language import Visitor

from core.auth import BROWSER_KINDS
from core.errors import ApiError
from core.ids import decode_id, encode_id, parse_id
from models.domain_event import EVENT_TYPES

LIVE_VARIABLE = "liveObjectId"

# what a widget or visitor follows: published content only
PUBLISHED = frozenset({"space.published", "space.unpublished", "space.archived", "space.deleted"})
# a restore copies a revision into the draft: members' and previews' concern, not widgets'
# (an unarchived space comes back as a draft: nothing a widget sees changes)
SPACE_DRAFT = PUBLISHED | {"space.created", "space.updated", "space.restored", "space.unarchived"}
# who reads published revisions only; a preview link reads its space's draft, so it follows
# the draft's changes (still by trusted documents only, as every browser credential)
PUBLISHED_READERS = frozenset({"widget", "visitor"})
BLOCKS = frozenset({"block.created", "block.updated", "block.moved", "block.deleted"})


def _of_entity(entity: str) -> frozenset[str]:
    # the catalogue names the event types (privacy/consent.py alone emits the withdrawal)
    return frozenset(t for t, (e, _) in EVENT_TYPES.items() if e == entity)


@dataclass(frozen=True)
class Topic:
    name: str
    # the query field each event runs, and its argument that takes the event's object
    query_field: str
    object_arg: str
    # event topics for members and partner keys; for widgets and visitors (empty: refused)
    topics: frozenset[str]
    browser_topics: frozenset[str] = frozenset()
    # the subscription argument that narrows to one object, and that object's type
    filter_arg: str | None = None
    filter_type: str = "Space"
    # the filter is the event's space (a block's), not its object
    by_space: bool = False
    # run through `node(id:)`: the selection wrapped in `... on <type>`
    node_type: str | None = None
    # the Casbin (object, act) checked when subscribing (each event's query checks again)
    needs: tuple[str, str] = ("Space", "read")


TOPICS = {
    t.name: t
    for t in (
        Topic("spaceChanged", "space", "id", SPACE_DRAFT, PUBLISHED, "id"),
        Topic(
            "blocksChanged",
            "space",
            "id",
            BLOCKS | {"space.restored"},
            PUBLISHED,
            "spaceId",
            by_space=True,
        ),
        Topic(
            "engagement",
            "spaceAnalytics",
            "spaceId",
            frozenset({"usage.recorded"}),
            filter_arg="spaceId",
            needs=("Analytics", "read"),
        ),
        Topic(
            "subjectRequestUpdated",
            "subjectRequest",
            "id",
            frozenset(
                {
                    "subject_request.created",
                    "subject_request.updated",
                    "subject_request.completed",
                    "subject_request.rejected",
                }
            ),
            filter_arg="id",
            filter_type="SubjectRequest",
            needs=("SubjectRequest", "read"),
        ),
        Topic(
            "consentChanged",
            "node",
            "id",
            _of_entity("ConsentEvent"),
            node_type="ConsentEvent",
            needs=("Consent", "read"),
        ),
    )
}


class SubscribeError(Exception):
    """A subscription that cannot start: answered with an `error` message, socket kept."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def errors(self) -> list[dict[str, Any]]:
        return [{"message": str(self), "extensions": {"code": self.code}}]


@dataclass(frozen=True)
class Event:
    """One domain event as the live fan-out sees it (ids only)."""

    tenant_id: uuid.UUID
    id: uuid.UUID
    topic: str
    object_id: str | None  # global ID of the object
    space_id: uuid.UUID | None  # the space of a block event (or of a space event)


@dataclass(frozen=True)
class Plan:
    """A subscription, checked and rewritten: the query it runs and what it listens to."""

    topic: Topic
    query: str  # the rewritten document, printed
    operation_name: str | None
    variables: dict[str, Any]  # those the query uses
    filter_id: uuid.UUID | None

    def matches(self, event: Event, kind: str) -> bool:
        topics = self.topic.browser_topics if kind in PUBLISHED_READERS else self.topic.topics
        if event.topic not in topics:
            return False
        if self.filter_id is None:
            return True
        if self.topic.by_space and event.topic in BLOCKS:
            return event.space_id == self.filter_id
        return _uuid_of(event.object_id) == self.filter_id

    def object_for(self, event: Event) -> str | None:
        """The global ID the event's query is run with."""
        if self.topic.by_space and event.topic in BLOCKS:
            return _space_gid(event.space_id)
        return event.object_id


# plans by (schema, document, operation, variables, principal kind): 1,000 pages of one
# widget subscribe with one document, checked and rewritten once
_PLANS: OrderedDict[tuple[object, ...], Plan] = OrderedDict()
PLAN_CACHE = 1024


def plan(
    schema: GraphQLSchema,
    text: str,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    kind: str,
) -> Plan:
    """Check a subscription document and rewrite it into the query its events run."""
    try:
        shown = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        raise SubscribeError("BAD_USER_INPUT", "`variables` must be JSON.") from None
    key = (id(schema), text, operation_name, shown, kind in BROWSER_KINDS)
    found = _PLANS.get(key)
    if found is not None:
        _PLANS.move_to_end(key)
        return found
    made = _plan(schema, text, operation_name, variables, kind)
    _PLANS[key] = made
    while len(_PLANS) > PLAN_CACHE:
        _PLANS.popitem(last=False)
    return made


def _plan(
    schema: GraphQLSchema,
    text: str,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    kind: str,
) -> Plan:
    try:
        document = parse(text, no_location=False)
    except GraphQLError as exc:
        raise SubscribeError("GRAPHQL_PARSE_FAILED", exc.message) from None
    errors = validate(schema, document)
    if errors:
        raise SubscribeError("GRAPHQL_VALIDATION_FAILED", errors[0].message)
    operation = _operation(document, operation_name)
    field = _single_field(operation)
    topic = TOPICS[field.name.value]
    if kind in BROWSER_KINDS and not topic.browser_topics:
        raise SubscribeError(
            "FORBIDDEN", f"`{topic.name}` is for members and partner keys, not for {kind}s."
        )
    root = schema.subscription_type
    assert root is not None
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        raise SubscribeError("BAD_USER_INPUT", coerced[0].message)
    args = get_argument_values(root.fields[field.name.value], field, coerced)
    filter_id = None
    if topic.filter_arg and args.get(topic.filter_arg) is not None:
        try:
            filter_id = decode_id(str(args[topic.filter_arg]), topic.filter_type)
        except ApiError as exc:
            raise SubscribeError(exc.extensions["code"], str(exc)) from None
    query = _rewrite(document, operation, field, topic)
    used = _used_variables(query)
    kept = {k: v for k, v in (variables or {}).items() if k in used}
    return Plan(topic, print_ast(query), operation_name, kept, filter_id)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name and o.name.value == name]
    if len(operations) != 1:
        raise SubscribeError(
            "BAD_REQUEST", "Send one subscription operation (or name it in `operationName`)."
        )
    operation = operations[0]
    if operation.operation != OperationType.SUBSCRIPTION:
        raise SubscribeError(
            "BAD_REQUEST",
            "Only subscriptions are served over the WebSocket; send queries and mutations "
            "over HTTP.",
        )
    return operation


def _single_field(operation: OperationDefinitionNode) -> FieldNode:
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        raise SubscribeError(
            "BAD_REQUEST", "A subscription selects exactly one topic field, without fragments."
        )
    field = selections[0]
    if field.directives:
        raise SubscribeError("BAD_REQUEST", "A topic field takes no directives.")
    if field.name.value not in TOPICS:
        raise SubscribeError("BAD_REQUEST", f"`{field.name.value}` is not a topic.")
    return field


def _rewrite(
    document: DocumentNode, operation: OperationDefinitionNode, field: FieldNode, topic: Topic
) -> DocumentNode:
    """`subscription S($x: T) { alias: topic(args) { sel } }` ->
    `query S($x: T, $liveObjectId: ID!) { alias: queryField(arg: $liveObjectId) { sel } }`."""
    selection = field.selection_set
    if topic.node_type is not None and selection is not None:
        selection = SelectionSetNode(
            selections=(
                InlineFragmentNode(
                    type_condition=NamedTypeNode(name=NameNode(value=topic.node_type)),
                    directives=(),
                    selection_set=selection,
                ),
            )
        )
    rewritten = FieldNode(
        alias=field.alias or NameNode(value=field.name.value),
        name=NameNode(value=topic.query_field),
        arguments=(
            ArgumentNode(
                name=NameNode(value=topic.object_arg),
                value=VariableNode(name=NameNode(value=LIVE_VARIABLE)),
            ),
        ),
        directives=(),
        selection_set=selection,
    )
    live = VariableDefinitionNode(
        variable=VariableNode(name=NameNode(value=LIVE_VARIABLE)),
        type=NonNullTypeNode(type=NamedTypeNode(name=NameNode(value="ID"))),
        directives=(),
    )
    body = SelectionSetNode(selections=(rewritten,))
    used = _used_variables(DocumentNode(definitions=(body_holder(body),), loc=None))
    fragments = [d for d in document.definitions if isinstance(d, FragmentDefinitionNode)]
    for fragment in fragments:
        used |= _used_variables(DocumentNode(definitions=(fragment,)))
    definitions = [d for d in operation.variable_definitions or () if d.variable.name.value in used]
    if any(d.variable.name.value == LIVE_VARIABLE for d in definitions):
        raise SubscribeError("BAD_REQUEST", f"`${LIVE_VARIABLE}` is a reserved variable name.")
    query = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=operation.name,
        variable_definitions=(*definitions, live),
        directives=operation.directives or (),
        selection_set=body,
    )
    return DocumentNode(definitions=(query, *fragments))


def body_holder(body: SelectionSetNode) -> OperationDefinitionNode:
    return OperationDefinitionNode(
        operation=OperationType.QUERY, variable_definitions=(), directives=(), selection_set=body
    )


class _Variables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.names.add(node.name.value)

    def enter_variable_definition(self, *_: Any) -> Any:
        return self.SKIP  # a definition is not a use


def _used_variables(document: DocumentNode) -> set[str]:
    visitor = _Variables()
    visit(document, visitor)
    return visitor.names


def _uuid_of(global_id: str | None) -> uuid.UUID | None:
    if not global_id:
        return None
    try:
        return parse_id(global_id)[1]
    except ApiError:
        return None


def _space_gid(space_id: uuid.UUID | None) -> str | None:
    return encode_id("Space", space_id) if space_id is not None else None
