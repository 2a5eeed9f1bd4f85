"""Images (files/images.py, files/media.py): metadata stripped from the original and every
variant, orientation applied first; variants only from the offered parameters, made once
and cached in storage; documents' author metadata read. On local storage: the HTTP tests
(tests/test_files.py) run the same through the API on local disk and SeaweedFS."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
import uuid
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pypdf
import pytest
import pyvips

from core.ids import decode_id
from files import documents, images, media
from files.documents import metadata
from files.storage import LocalStorage, Storage, asset_key, asset_prefix, variant_key
from tests import test_files
from tests.conftest import error_codes
from tests.test_files import fetch, gql, path_of, storage_of, upload, uploaded

AUTHOR = "Jane Q. Author"
SERIAL = "SN-7781-4402"
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>'
    f"{AUTHOR}</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
).encode()


def _iptc(author: bytes) -> bytes:
    """A Photoshop APP13 block with one IPTC record: By-line (2:80)."""
    record = b"\x1c\x02\x50" + struct.pack(">H", len(author)) + author
    record += b"\x00" * (len(record) % 2)
    return b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record


def _picture(width: int, height: int, *, alpha: bool = False) -> pyvips.Image:
    xy = pyvips.Image.xyz(width, height)
    bands = [xy[0] * 255 / width, xy[1] * 255 / height, (xy[0] + xy[1]) * 127 / width]
    if alpha:
        bands.append(xy[0] * 0 + 200)
    image = bands[0].bandjoin(bands[1:]).cast("uchar")
    return image.copy(interpretation="srgb")


def phone_photo(width: int = 1200, height: int = 800, orientation: int = 6) -> bytes:
    """A JPEG as a phone writes it: GPS position, author and serial number in EXIF, author in
    XMP and IPTC, and an orientation (6: shown turned 90 degrees clockwise)."""
    image = _picture(width, height)
    text, number = pyvips.GValue.gstr_type, pyvips.GValue.gint_type
    image.set_type(text, "exif-ifd0-Artist", AUTHOR)
    image.set_type(text, "exif-ifd2-BodySerialNumber", SERIAL)
    image.set_type(text, "exif-ifd3-GPSLatitudeRef", "N")
    image.set_type(text, "exif-ifd3-GPSLatitude", "48/1 51/1 2400/100")
    image.set_type(text, "exif-ifd3-GPSLongitudeRef", "E")
    image.set_type(text, "exif-ifd3-GPSLongitude", "2/1 21/1 300/100")
    image.set_type(number, "orientation", orientation)
    image.set_type(pyvips.GValue.blob_type, "xmp-data", XMP)
    image.set_type(pyvips.GValue.blob_type, "iptc-data", _iptc(AUTHOR.encode()))
    return bytes(image.write_to_buffer(".jpg", Q=90))


def assert_clean(data: bytes) -> pyvips.Image:
    """No author, no serial, no GPS, no EXIF, XMP or IPTC block in the bytes."""
    assert AUTHOR.encode() not in data and SERIAL.encode() not in data
    for marker in (b"Exif\x00\x00", b"<x:xmpmeta", b"http://ns.adobe.com/xap", b"8BIM"):
        assert marker not in data, marker
    image = pyvips.Image.new_from_buffer(data, "")
    fields = image.get_fields()
    assert not [f for f in fields if f.startswith(("exif-", "xmp-", "iptc-", "png-comment"))]
    return image


def test_the_phone_photo_carries_what_must_go() -> None:
    # the check above fails on the photo as uploaded: it tests something
    data = phone_photo()
    assert AUTHOR.encode() in data and SERIAL.encode() in data
    fields = pyvips.Image.new_from_buffer(data, "").get_fields()
    assert "exif-ifd3-GPSLatitude" in fields and "xmp-data" in fields and "iptc-data" in fields
    with pytest.raises(AssertionError):
        assert_clean(data)


def _asset(storage_key: str, media_type: str, size: int) -> Any:
    return SimpleNamespace(
        storage_key=storage_key,
        media_type=media_type,
        byte_size=size,
        sha256=None,
        width=None,
        height=None,
        details={},
    )


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return LocalStorage(tmp_path / "files")


async def _stored(storage: Storage, data: bytes, media_type: str) -> Any:
    key = asset_key(uuid.uuid4(), uuid.uuid4())
    await storage.put(key, data)
    return _asset(key, media_type, len(data))


async def test_original_and_every_variant_come_back_without_metadata(storage: Storage) -> None:
    asset = await _stored(storage, phone_photo(), "image/jpeg")
    await media.inspect(storage, asset)
    original = await storage.get(asset.storage_key)
    image = assert_clean(original)
    # orientation applied first: the 1200x800 sensor image stands upright, 800x1200
    assert (image.width, image.height) == (800, 1200) == (asset.width, asset.height)
    assert asset.byte_size == len(original)
    assert sorted(asset.details["metadataRemoved"]) == ["exif", "iptc", "xmp"]
    for spec in [
        images.variant_spec(256),
        images.variant_spec(512, 512, "cover", "avif"),
        images.variant_spec(128, 256, "contain", "png"),
        images.variant_spec(2048, format="jpeg", quality=60),
    ]:
        key = variant_key(asset.storage_key, spec.name)
        size = await media.ensure_variant(storage, key)
        data = await storage.get(key)
        assert size == len(data)
        variant = assert_clean(data)
        assert variant.get("vips-loader").startswith(spec.format.replace("avif", "heif"))


async def test_a_variant_of_a_photo_with_metadata_is_clean_even_before_inspection(
    storage: Storage,
) -> None:
    # variants never carry what the original has, whichever ran first
    asset = await _stored(storage, phone_photo(orientation=1), "image/jpeg")
    key = variant_key(asset.storage_key, "w512.webp")
    assert await media.ensure_variant(storage, key)
    image = assert_clean(await storage.get(key))
    assert (image.width, image.height) == (512, 341)


async def test_png_webp_and_tiff_metadata_is_removed(storage: Storage) -> None:
    for suffix, media_type in [
        (".png", "image/png"),
        (".webp", "image/webp"),
        (".tif", "image/tiff"),
    ]:
        picture = _picture(300, 200, alpha=True)
        picture.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", AUTHOR)
        picture.set_type(pyvips.GValue.blob_type, "xmp-data", XMP)
        asset = await _stored(storage, bytes(picture.write_to_buffer(suffix)), media_type)
        assert AUTHOR.encode() in await storage.get(asset.storage_key)
        await media.inspect(storage, asset)
        assert_clean(await storage.get(asset.storage_key))
        assert "xmp" in asset.details["metadataRemoved"]


async def test_an_animation_keeps_its_frames_and_loses_its_metadata(storage: Storage) -> None:
    frames = [(pyvips.Image.black(60, 40) + 40 * i).cast("uchar") for i in range(3)]
    animation = pyvips.Image.arrayjoin(frames, across=1).copy(interpretation="b-w")
    animation.set_type(pyvips.GValue.gint_type, "page-height", 40)
    animation.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", AUTHOR)
    asset = await _stored(storage, bytes(animation.write_to_buffer(".webp")), "image/webp")
    await media.inspect(storage, asset)
    data = await storage.get(asset.storage_key)
    assert_clean(data)
    assert pyvips.Image.new_from_buffer(data, "", n=-1).get_n_pages() == 3
    assert (asset.width, asset.height) == (60, 40)


async def test_a_variant_rendered_while_its_asset_is_deleted_is_not_kept(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = await _stored(storage, phone_photo(orientation=1), "image/jpeg")
    real = images.render

    def render_then_lose_the_original(path: str, spec: images.VariantSpec) -> bytes:
        # the asset's erasure deletes its prefix while the variant is being made
        for found in (storage.root / asset.storage_key).parent.rglob("*"):  # type: ignore[attr-defined]
            found.unlink()
        return real(path, spec)

    monkeypatch.setattr(media, "render", render_then_lose_the_original)
    key = variant_key(asset.storage_key, "w64.webp")
    assert await media.ensure_variant(storage, key) is None
    assert await storage.list(asset.storage_key.rsplit("/", 1)[0] + "/") == []


async def test_an_image_without_metadata_is_kept_byte_for_byte(storage: Storage) -> None:
    data = bytes(_picture(320, 240).write_to_buffer(".jpg", keep=images.KEEP))
    asset = await _stored(storage, data, "image/jpeg")
    await media.inspect(storage, asset)
    assert await storage.get(asset.storage_key) == data  # not re-encoded: no loss
    assert (asset.width, asset.height, asset.details["metadataRemoved"]) == (320, 240, [])
    preview = asset.details["placeholder"]
    assert preview.startswith("data:image/webp;base64,") and len(preview) < 400
    tiny = pyvips.Image.new_from_buffer(base64.b64decode(preview.split(",", 1)[1]), "")
    assert max(tiny.width, tiny.height) == images.PLACEHOLDER_SIZE


async def test_a_damaged_image_is_refused(storage: Storage) -> None:
    asset = await _stored(storage, phone_photo()[:600], "image/jpeg")
    with pytest.raises(images.ImageRefused) as refused:
        await media.inspect(storage, asset)
    assert refused.value.code == "IMAGE_UNREADABLE"


def test_fits_give_the_box_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(bytes(_picture(1000, 500).write_to_buffer(".jpg")))

    def size(spec: images.VariantSpec) -> tuple[int, int]:
        image = pyvips.Image.new_from_buffer(images.render(str(path), spec), "")
        return image.width, image.height

    assert size(images.variant_spec(256)) == (256, 128)
    assert size(images.variant_spec(256, 256)) == (256, 128)  # inside
    assert size(images.variant_spec(256, 256, "cover")) == (256, 256)
    assert size(images.variant_spec(256, 256, "contain", "png")) == (256, 256)
    assert size(images.variant_spec(256, 256, "contain", "jpeg")) == (256, 256)
    assert size(images.variant_spec(2048)) == (1000, 500)  # never enlarged


def test_only_offered_parameters_name_a_variant() -> None:
    with pytest.raises(images.ImageRefused) as refused:
        images.variant_spec(500)
    assert refused.value.code == "IMAGE_SIZE_NOT_OFFERED"
    for bad, code in [
        ({"height": 300}, "IMAGE_SIZE_NOT_OFFERED"),
        ({"fit": "stretch"}, "IMAGE_FIT_UNKNOWN"),
        ({"format": "gif"}, "IMAGE_FORMAT_UNKNOWN"),
        ({"quality": 50}, "IMAGE_QUALITY_NOT_OFFERED"),
    ]:
        with pytest.raises(images.ImageRefused) as refused:
            images.variant_spec(512, **bad)
        assert refused.value.code == code
    # one name per result, and names parse back to exactly their spec
    assert images.variant_spec(512, fit="cover").name == "w512.webp"
    spec = images.variant_spec(512, 256, "cover", "avif", 60)
    assert spec.name == "w512-h256-cover-q60.avif"
    assert images.VariantSpec.parse(spec.name) == spec
    for name in [
        "w500.webp",
        "w0512.webp",
        "w512-inside.webp",
        "w512-cover.webp",
        "w512.gif",
        "w512-q50.webp",
        "w512.webp.png",
        "original",
        "",
    ]:
        assert images.VariantSpec.parse(name) is None, name


async def test_variants_are_made_once_and_only_for_variant_keys(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset = await _stored(storage, phone_photo(orientation=1), "image/jpeg")
    renders: list[str] = []
    real = images.render

    def counted(path: str, spec: images.VariantSpec) -> bytes:
        renders.append(spec.name)
        return real(path, spec)

    monkeypatch.setattr(media, "render", counted)
    key = variant_key(asset.storage_key, "w256-q40.jpeg")
    sizes = await asyncio.gather(*[media.ensure_variant(storage, key) for _ in range(5)])
    assert len(set(sizes)) == 1 and sizes[0]
    assert await media.ensure_variant(storage, key) == sizes[0]
    assert renders == ["w256-q40.jpeg"]  # five at once, then a cached one: one render
    # a key that names no offered variant, or whose original is gone: nothing rendered
    for other in ["w500.webp", "w256.gif", "original"]:
        name_key = asset.storage_key.rsplit("/", 1)[0] + "/v/" + other
        assert await media.ensure_variant(storage, name_key) is None
    assert await media.ensure_variant(storage, asset.storage_key) == len(
        await storage.get(asset.storage_key)
    )
    gone = variant_key(asset_key(uuid.uuid4(), uuid.uuid4()), "w256.webp")
    assert await media.ensure_variant(storage, gone) is None
    assert renders == ["w256-q40.jpeg"]


def test_srcset_offers_widths_up_to_the_original() -> None:
    assert list(images.srcset_widths(600)) == [
        (64, 64),
        (128, 128),
        (256, 256),
        (512, 512),
        (768, 600),
    ]
    assert list(images.srcset_widths(4000))[-1] == (2048, 2048)
    assert list(images.srcset_widths(64)) == [(64, 64)]


def _office(path: Path, core: str, app: str) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("docProps/core.xml", core)
        archive.writestr("docProps/app.xml", app)


def pdf_with(info: dict[str, str]) -> bytes:
    """A one-page PDF whose Info dictionary says `info`."""
    writer = pypdf.PdfWriter()
    writer.add_blank_page(100, 100)
    writer.add_metadata(info)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_document_author_metadata_is_read(tmp_path: Path) -> None:
    pdf = tmp_path / "offer.pdf"
    pdf.write_bytes(pdf_with({"/Author": AUTHOR, "/Title": "Offer", "/Creator": "Writer 7"}))
    assert metadata(str(pdf), "application/pdf") == {
        "author": AUTHOR,
        "title": "Offer",
        "software": "Writer 7",
    }
    docx = tmp_path / "contract.docx"
    _office(
        docx,
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:creator>{AUTHOR}</dc:creator><cp:lastModifiedBy>Bob Editor</cp:lastModifiedBy>"
        "</cp:coreProperties>",
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'extended-properties"><Company>Acme GmbH</Company></Properties>',
    )
    word = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert metadata(str(docx), word) == {
        "author": AUTHOR,
        "lastModifiedBy": "Bob Editor",
        "company": "Acme GmbH",
    }
    # damaged or not what it says: nothing reported, nothing raised
    junk = tmp_path / "junk"
    junk.write_bytes(b"%PDF-1.7\n" + b"\x00" * 100)
    assert metadata(str(junk), "application/pdf") == {}
    assert metadata(str(junk), word) == {}


async def test_inspecting_a_document_records_its_makers(storage: Storage) -> None:
    pdf = pdf_with({"/Author": AUTHOR})
    asset = await _stored(storage, pdf, "application/pdf")
    await media.inspect(storage, asset)
    assert asset.details == {"documentMetadata": {"author": AUTHOR}}
    assert await storage.get(asset.storage_key) == pdf  # read, never changed
    # past the size read, nothing is reported (and nothing copied)
    large = await _stored(storage, pdf, "application/pdf")
    large.byte_size = documents.MAX_READ + 1
    await media.inspect(storage, large)
    assert large.details == {}


# through HTTP: upload, GraphQL, signed links (the same on local disk and SeaweedFS)

IMAGE = """query($id: ID!) { asset(id: $id) { width height byteSize placeholder
  url webp: url(width: 512) avif: url(width: 256, height: 256, fit: COVER, format: AVIF)
  srcset jpegs: srcset(format: JPEG) documentMetadata { author } } }"""


# the app on local disk and on SeaweedFS, and its client
files_app = test_files.files_app
http = test_files.http


def decode(global_id: str) -> uuid.UUID:
    return decode_id(global_id, "Asset")


def _urls(srcset: str) -> list[tuple[str, str]]:
    return [tuple(entry.rsplit(" ", 1)) for entry in srcset.split(", ")]  # type: ignore[misc]


async def test_a_phone_photo_and_its_variants_come_back_clean(
    http: Any, new_tenant: Any, files_app: Any
) -> None:
    tenant = await new_tenant()
    sent = phone_photo()
    asset = await uploaded(http, tenant.token, sent, filename="holiday.jpg")
    got = (await gql(http, tenant.token, IMAGE, {"id": asset["id"]}))["data"]["asset"]
    assert (got["width"], got["height"]) == (800, 1200)  # upright: orientation applied
    assert got["placeholder"].startswith("data:image/webp;base64,")
    assert got["documentMetadata"] is None
    original = await fetch(http, got["url"])
    assert original.status_code == 200 and original.headers["content-type"] == "image/jpeg"
    assert got["byteSize"] == len(original.content) != len(sent)
    assert_clean(original.content)
    srcset = _urls(got["srcset"])
    assert [width for _, width in srcset] == ["64w", "128w", "256w", "512w", "768w", "800w"]
    assert [width for _, width in _urls(got["jpegs"])][-1] == "800w"
    variants = [
        (got["webp"], "image/webp", (512, 768)),
        (got["avif"], "image/avif", (256, 256)),
        (srcset[-1][0], "image/webp", (800, 1200)),
        (_urls(got["jpegs"])[0][0], "image/jpeg", (64, 96)),
    ]
    for url, media_type, size in variants:
        first = await fetch(http, url)
        assert first.status_code == 200, first.text
        assert first.headers["content-type"] == media_type
        extension = media_type.split("/")[1].replace("jpeg", "jpg")
        assert f'filename="holiday.{extension}"' in first.headers["content-disposition"]
        image = assert_clean(first.content)
        assert (image.width, image.height) == size
        again = await fetch(http, url)  # from the cache: the same bytes
        assert again.content == first.content
    keys = await storage_of(files_app).list(asset_prefix(tenant.tenant_id, decode(asset["id"])))
    assert sorted(k.rsplit("/", 1)[1] for k in keys if "/v/" in k) == sorted(
        ["w512.webp", "w256-h256-cover.avif", "w1024.webp", "w64.jpeg"]
    )


async def test_variant_parameters_outside_the_offered_set_are_refused(
    http: Any, new_tenant: Any
) -> None:
    tenant = await new_tenant()
    photo = await uploaded(http, tenant.token, phone_photo(orientation=1))
    pdf = await uploaded(http, tenant.token, b"%PDF-1.4\n" + b"words\n" * 50 + b"%%EOF\n")
    for query, code in [
        ("url(width: 500)", "IMAGE_SIZE_NOT_OFFERED"),
        ("url(width: 512, height: 10)", "IMAGE_SIZE_NOT_OFFERED"),
        ("url(width: 512, quality: 50)", "IMAGE_QUALITY_NOT_OFFERED"),
        ("url(format: PNG)", "IMAGE_SIZE_NOT_OFFERED"),
    ]:
        answer = await gql(
            http,
            tenant.token,
            f"query($id: ID!) {{ asset(id: $id) {{ {query} }} }}",
            {"id": photo["id"]},
        )
        assert error_codes(answer) == [code], (query, answer)
    answer = await gql(
        http,
        tenant.token,
        "query($id: ID!) { asset(id: $id) { url(width: 256) } }",
        {"id": pdf["id"]},
    )
    assert error_codes(answer) == ["NOT_AN_IMAGE"]
    other = "query($id: ID!) { asset(id: $id) { srcset placeholder width } }"
    assert (await gql(http, tenant.token, other, {"id": pdf["id"]}))["data"]["asset"] == {
        "srcset": None,
        "placeholder": None,
        "width": None,
    }


async def test_a_variant_link_cannot_be_altered_to_another_size(http: Any, new_tenant: Any) -> None:
    tenant = await new_tenant()
    photo = await uploaded(http, tenant.token, phone_photo(orientation=1))
    url = (
        await gql(
            http,
            tenant.token,
            "query($id: ID!) { asset(id: $id) { url(width: 64) } }",
            {"id": photo["id"]},
        )
    )["data"]["asset"]["url"]
    token = path_of(url).rsplit("/", 1)[1]
    payload = token.split(".")[0]
    padded = payload + "=" * (-len(payload) % 4)
    forged_payload = (
        base64.urlsafe_b64encode(base64.urlsafe_b64decode(padded).replace(b"w64.webp", b"w99.webp"))
        .rstrip(b"=")
        .decode()
    )
    forged = await http.get(path_of(url).replace(payload, forged_payload))
    assert forged.status_code == 403
    assert (await fetch(http, url)).status_code == 200


async def test_a_damaged_image_upload_is_refused_and_kept_nowhere(
    http: Any, new_tenant: Any, files_app: Any
) -> None:
    tenant = await new_tenant()
    answer = (await upload(http, tenant.token, phone_photo()[:700])).json()
    assert [e["code"] for e in answer["data"]["assetUpload"]["userErrors"]] == ["IMAGE_UNREADABLE"]
    assert await storage_of(files_app).list(f"t/{tenant.tenant_id}/") == []


# an iPhone photo's first bytes: sniffed as image/heic
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200


async def test_an_image_whose_metadata_cannot_be_removed_is_refused(
    http: Any, new_tenant: Any, files_app: Any
) -> None:
    tenant = await new_tenant()
    answer = (await upload(http, tenant.token, HEIC, filename="IMG_0001.HEIC")).json()
    errors = answer["data"]["assetUpload"]["userErrors"]
    assert [e["code"] for e in errors] == ["IMAGE_TYPE_UNSUPPORTED"]
    assert "image/heic" in errors[0]["message"]
    assert await storage_of(files_app).list(f"t/{tenant.tenant_id}/") == []


async def test_editors_see_a_documents_authors_and_viewers_do_not(
    http: Any, new_tenant: Any, new_member: Any
) -> None:
    pdf = pdf_with({"/Author": AUTHOR, "/Creator": "Writer 7"})
    tenant = await new_tenant()
    asset = await uploaded(http, tenant.token, pdf, filename="offer.pdf")
    query = "query($id: ID!) { asset(id: $id) { documentMetadata { author software company } } }"
    answer = await gql(http, tenant.token, query, {"id": asset["id"]})
    assert answer["data"]["asset"]["documentMetadata"] == {
        "author": AUTHOR,
        "software": "Writer 7",
        "company": None,
    }
    viewer = await new_member(tenant.tenant_id, "viewer")
    assert error_codes(await gql(http, viewer.token, query, {"id": asset["id"]})) == ["FORBIDDEN"]


def test_malloc_is_set_for_renders_only_while_one_runs(tmp_path: Path) -> None:
    """glibc's thresholds (files/images.py `_Malloc`): the render setting from the first
    render that starts to the last that ends, also when they overlap in threads; the
    serving setting otherwise."""
    calls: list[tuple[int, int]] = []
    fake = images._Malloc()
    fake.libc = SimpleNamespace(mallopt=lambda what, value: calls.append((what, value)) or 1)
    fake._set(images.SERVING)
    serving = [
        (images.M_MMAP_THRESHOLD, images.SERVING[0]),
        (images.M_TRIM_THRESHOLD, images.SERVING[1]),
    ]
    rendering = [
        (images.M_MMAP_THRESHOLD, images.RENDERING[0]),
        (images.M_TRIM_THRESHOLD, images.RENDERING[1]),
    ]
    assert calls == serving
    calls.clear()
    with fake.rendering():
        assert calls == rendering
        with fake.rendering():  # a second render meanwhile: nothing changes
            assert calls == rendering
        assert calls == rendering and fake.renders == 1
    assert calls == [*rendering, *serving] and fake.renders == 0
    calls.clear()
    with pytest.raises(ValueError), fake.rendering():
        raise ValueError("a render that fails")
    assert calls == [*rendering, *serving] and fake.renders == 0
    # the module's own: render and clean run under it
    assert images.malloc.renders == 0
    seen: list[int] = []
    original = images._load

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(images.malloc.renders)
        return original(*args, **kwargs)

    path = tmp_path / "p.png"
    pyvips.Image.black(40, 30).write_to_file(str(path))
    try:
        images._load = spy  # type: ignore[assignment]
        images.render(str(path), images.VariantSpec.parse("w64.webp"))  # type: ignore[union-attr]
    finally:
        images._load = original  # type: ignore[assignment]
    assert seen == ([1] if images.malloc.libc is not None else [0]) and images.malloc.renders == 0
