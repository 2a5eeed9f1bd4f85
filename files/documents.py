"""Who made a document: the author metadata of PDFs and office files (OOXML, OpenDocument),
read, never changed, so an editor sees what a file says about its makers before sharing it
(docs/files.md). Reading is best effort: a document we cannot read reports nothing.
"""

from __future__ import annotations

import zipfile
from typing import Any
from xml.etree import ElementTree

OOXML = "application/vnd.openxmlformats-officedocument."
ODF = "application/vnd.oasis.opendocument."
PDF = "application/pdf"
# a larger document is not read: copying it from storage would hold up its upload's answer
MAX_READ = 64 * 1024 * 1024
# a metadata part larger than this is not read (a zip bomb's guard)
MAX_PART = 1024 * 1024
MAX_VALUE = 500

_DC = "{http://purl.org/dc/elements/1.1/}"
_CP = "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}"
_APP = "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}"
_META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
# (part, element, what we call it), first found wins
_OFFICE = {
    OOXML: [
        ("docProps/core.xml", f"{_DC}creator", "author"),
        ("docProps/core.xml", f"{_CP}lastModifiedBy", "lastModifiedBy"),
        ("docProps/core.xml", f"{_DC}title", "title"),
        ("docProps/app.xml", f"{_APP}Company", "company"),
        ("docProps/app.xml", f"{_APP}Manager", "manager"),
        ("docProps/app.xml", f"{_APP}Application", "software"),
    ],
    ODF: [
        ("meta.xml", f"{_META}initial-creator", "author"),
        ("meta.xml", f"{_DC}creator", "lastModifiedBy"),
        ("meta.xml", f"{_DC}title", "title"),
        ("meta.xml", f"{_META}generator", "software"),
    ],
}
_PDF = [("/Author", "author"), ("/Title", "title"), ("/Creator", "software")]


def readable(media_type: str) -> bool:
    return media_type == PDF or media_type.startswith((OOXML, ODF))


def _text(value: Any) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text[:MAX_VALUE] or None


def _pdf(path: str) -> dict[str, str]:
    import pypdf  # only documents need it
    from pypdf.errors import PyPdfError

    try:
        info: Any = pypdf.PdfReader(path).metadata or {}
        found = {name: _text(info.get(key)) for key, name in _PDF}
    except (PyPdfError, ValueError, KeyError, TypeError, OSError):
        return {}
    return {name: value for name, value in found.items() if value}


def _office(path: str, fields: list[tuple[str, str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            parts: dict[str, ElementTree.Element | None] = {}
            for part, element, name in fields:
                if part not in parts:
                    parts[part] = _part(archive, part)
                root = parts[part]
                node = root.find(f".//{element}") if root is not None else None
                value = _text(node.text) if node is not None else None
                if value and name not in found:
                    found[name] = value
    except (zipfile.BadZipFile, OSError):
        return {}
    return found


def _part(archive: zipfile.ZipFile, name: str) -> ElementTree.Element | None:
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > MAX_PART:
        return None
    try:
        # expat refuses entity expansion bombs by itself (Python 3.11's amplification limits)
        return ElementTree.fromstring(archive.read(info))
    except (ElementTree.ParseError, zipfile.BadZipFile, ValueError):
        return None


def metadata(path: str, media_type: str) -> dict[str, str]:
    """What the document at `path` names about its makers: `author`, `lastModifiedBy`,
    `company`, `manager`, `title`, `software`, as far as it says; {} otherwise."""
    if media_type == PDF:
        return _pdf(path)
    for prefix, fields in _OFFICE.items():
        if media_type.startswith(prefix):
            return _office(path, fields)
    return {}
