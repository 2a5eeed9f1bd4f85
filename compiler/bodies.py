"""`Block.content`: the typed body of a block (schema/block_bodies.py `typed_body`) as SQL.

A block's kind picks the union member; each field reads its key of the JSONB body the way
`typed_body` does: required keys as stored (store/block_bodies.py validates every write),
optional ones with `typed_body`'s default when the key is absent.
"""

from __future__ import annotations

from collections.abc import Callable

from graphql import FieldNode

from compiler import sql
from compiler.collect import Fields, Unsupported
from compiler.shapes import MAX_KEYS
from store.brand import KEYS as BRAND_KEYS

# GraphQL field -> (body key, default as JSON text or None: required, or null when absent)
Spec = dict[str, tuple[str, str | None]]
# the default that marks a body's asset (its own UUID): answered as the asset's global ID
ASSET_ID = "\0asset"
MEMBERS: dict[str, tuple[str, Spec]] = {
    "heading": ("HeadingBody", {"text": ("text", None), "level": ("level", "2")}),
    "rich_text": ("RichTextBody", {"format": ("format", '"markdown"'), "text": ("text", None)}),
    "link": ("LinkBody", {"url": ("url", None), "label": ("label", None)}),
    "file": (
        "FileBody",
        {
            "url": ("url", '""'),  # a library file has none (its `asset` is the resolvers')
            "name": ("name", None),
            "sizeBytes": ("sizeBytes", None),
            "mimeType": ("mimeType", None),
            "assetId": ("assetId", ASSET_ID),
        },
    ),
    "video": (
        "VideoBody",
        {"url": ("url", '""'), "caption": ("caption", None), "assetId": ("assetId", ASSET_ID)},
    ),
    "embed": (
        "EmbedBody",
        {"url": ("url", None), "title": ("title", None), "height": ("height", None)},
    ),
    "checklist": ("ChecklistBody", {}),  # `items`: a list, below
    # an asset's fields (its signed URL above all) are the resolver path's: `asset` is not
    # planned, nor a gallery's items (each an asset)
    "image": (
        "ImageBody",
        {
            "alt": ("alt", None),
            "decorative": ("decorative", "false"),
            "caption": ("caption", None),
            "assetId": ("assetId", ASSET_ID),
        },
    ),
    "gallery": ("GalleryBody", {}),
}
ITEM: Spec = {"text": ("text", None), "checked": ("checked", "false")}
# documents on other tables: GraphQL field -> (type, SELECT of the document `doc` for the
# row `{alias}`, spec); every key optional (null when absent)
DOCUMENTS: dict[str, dict[str, tuple[str, str, Spec]]] = {
    "Space": {
        "brand": (
            "Brand",
            "SELECT doc_t.brand AS doc FROM tenants AS doc_t WHERE doc_t.id = {alias}.tenant_id",
            {key: (key, None) for key in BRAND_KEYS.values()},
        )
    }
}


def _value(body: str, key: str, default: str | None) -> str:
    ref = f"{body} -> {sql.literal(key)}"
    if default is None:
        return ref
    return (
        f"CASE WHEN {body} ? {sql.literal(key)} THEN {ref} ELSE {sql.literal(default)}::jsonb END"
    )


def _object(type_name: str, body: str, fields: Fields, spec: Spec) -> str:
    if len(fields) > MAX_KEYS:
        raise Unsupported("too many fields in one object")
    pairs: list[tuple[str, sql.Piece]] = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        expr: sql.Piece
        if name == "__typename":
            expr = sql.Raw(f'"{type_name}"')
        elif name in spec and spec[name][1] == ASSET_ID:
            # `encode_id("Asset", ...)` of the body's UUID (validated on write); NULL: none
            asset = sql.global_id("Asset", f"({body} ->> {sql.literal(spec[name][0])})")
            expr = sql.json_text(asset, "global_id", True)
        elif name in spec:
            # a scalar's JSONB text is compact; an absent key is SQL NULL, JSON null
            expr = sql.json_text(_value(body, *spec[name]), "jsonb_text", True)
        else:
            raise Unsupported(f"{type_name}.{name}")
        pairs.append((key, expr))
    return str(sql.json_object(pairs))


def document(
    type_name: str,
    alias: str,
    nodes: list[FieldNode],
    fields_of: Callable[[str, list[FieldNode]], Fields],
) -> sql.Piece:
    """The JSON text of a document field (DOCUMENTS) of the row `alias` of `type_name`."""
    name = nodes[0].name.value
    member, select, spec = DOCUMENTS[type_name][name]
    obj = _object(member, "doc_s.doc", fields_of(member, nodes), spec)
    return sql.json_nullable(f"(SELECT {obj} FROM ({select.format(alias=alias)}) AS doc_s)")


def content(
    alias: str,
    nodes: list[FieldNode],
    fields_of: Callable[[str, list[FieldNode]], Fields],
    *,
    body: str | None = None,
) -> str:
    """The JSON text of `content` for the block row `alias` (NULL for another kind); `body`:
    the body to read, the row's own by default."""
    body = body or f"{alias}.body"
    cases = []
    for kind, (type_name, spec) in MEMBERS.items():
        fields = fields_of(type_name, nodes)
        if type_name == "ChecklistBody":
            expr = _checklist(body, fields, fields_of)
        else:
            expr = _object(type_name, body, fields, spec)
        cases.append(f"WHEN {sql.literal(kind)} THEN {expr}")
    # another kind has no typed body: NULL, and the resolver path fails; kinds are these
    return f"CASE {alias}.kind {' '.join(cases)} END"


def _checklist(
    body: str, fields: Fields, fields_of: Callable[[str, list[FieldNode]], Fields]
) -> str:
    if len(fields) > MAX_KEYS:
        raise Unsupported("too many fields in one object")
    pairs: list[tuple[str, sql.Piece]] = []
    for key, nodes in fields.items():
        name = nodes[0].name.value
        expr: sql.Piece
        if name == "__typename":
            expr = sql.Raw('"ChecklistBody"')
        elif name == "items":
            item = _object(
                "ChecklistBodyItem", "e.item", fields_of("ChecklistBodyItem", nodes), ITEM
            )
            items = sql.json_array(f"string_agg({item}, ',' ORDER BY e.n)")
            expr = (
                f"(SELECT {items} "
                f"FROM jsonb_array_elements({body} -> 'items') WITH ORDINALITY AS e(item, n))"
            )
        else:
            raise Unsupported(f"ChecklistBody.{name}")
        pairs.append((key, expr))
    return str(sql.json_object(pairs))
