"""Sending one webhook request: signed per Standard Webhooks, through the SSRF guard
(core/egress.py), without following redirects, keeping at most 1 KiB of the answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from core.egress import EgressRefused, check_url, resolve_public

EXCERPT_BYTES = 1024


@dataclass
class Attempt:
    status_code: int | None
    excerpt: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def sign_and_post(
    url: str,
    secrets: Sequence[str],
    msg_id: str,
    data: str,
    now: datetime,
    *,
    development: bool,
    timeout: float,
) -> Attempt:
    """One attempt. In production the host is resolved, every address must be public, and
    the request goes to the address checked (TLS still verifies the host name). Each secret
    adds its signature (during a rotation's overlap, the current and the previous one)."""
    headers = {
        "content-type": "application/json",
        "user-agent": "Microspace-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(Webhook(s).sign(msg_id, now, data) for s in secrets),
    }
    try:
        target = check_url(url, development=development)
        extensions: dict[str, Any] = {}
        if not development:
            url, headers["host"] = target.pinned(await resolve_public(target))
            extensions = {"sni_hostname": target.host}
        return await _post(url, headers, data, extensions, timeout)
    except EgressRefused as refused:
        return Attempt(None, None, f"refused: {refused}")


async def _post(
    url: str, headers: dict[str, str], data: str, extensions: dict[str, Any], timeout: float
) -> Attempt:
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=timeout) as client:
            request = client.build_request(
                "POST", url, content=data, headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                kept = b""
                async for chunk in response.aiter_raw():
                    kept += chunk
                    if len(kept) >= EXCERPT_BYTES:
                        break
            finally:
                await response.aclose()
        # text only: PostgreSQL refuses NUL in text columns
        excerpt = kept[:EXCERPT_BYTES].decode("utf-8", "replace").replace("\x00", "")
        error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return Attempt(response.status_code, excerpt, error)
    except httpx.HTTPError as exc:
        return Attempt(None, None, f"{type(exc).__name__}: {exc}"[:500])
