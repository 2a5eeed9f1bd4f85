"""Signed link tokens (core/signed.py), shared by export, invitation and unsubscribe links:
a token opens only with its own secret and purpose, unaltered, within its size."""

from __future__ import annotations

import pytest

from core import signed

SECRET = b"s" * 32


def test_a_token_opens_only_with_its_secret_and_purpose():
    token = signed.seal(SECRET, b"export", {"v": 1, "t": "x"})
    assert signed.unseal(SECRET, b"export", token, max_chars=300) == {"v": 1, "t": "x"}
    for secret, purpose in ((SECRET, b"invitation"), (b"t" * 32, b"export")):
        with pytest.raises(signed.Unsealed, match="signature"):
            signed.unseal(secret, purpose, token, max_chars=300)


def test_altered_oversized_and_odd_tokens_are_refused():
    token = signed.seal(SECRET, b"export", {"v": 1})
    part, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    not_json = (
        signed.b64(b"\xff{") + "." + signed._signature(SECRET, b"export", signed.b64(b"\xff{"))
    )
    for bad, why in (
        (f"{part}.{flipped}", "signature"),
        (token + "x" * 300, "malformed"),
        (token + ".x", "malformed"),
        ("é" + token, "malformed"),
        (not_json, "JSON"),
    ):
        with pytest.raises(signed.Unsealed, match=why):
            signed.unseal(SECRET, b"export", bad, max_chars=300)
