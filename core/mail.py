"""E-mail: rendering outbox rows, and pluggable senders (SMTP, or a file sink in development)."""

from __future__ import annotations

import asyncio
import os
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import SMTP
from email.policy import Policy as EmailPolicy
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

from core.config import Settings

# RFC 5322 2.1.1: no line longer than 998 characters
MAX_LINE = 998


class VerbatimHeader(UnstructuredHeader, BaseHeader):
    """A header written exactly as given, on one line. The email package folds a long
    value without spaces into RFC 2047 encoded-words (`=?utf-8?q?=3Chttps...?=`), which
    RFC 2369/8058 receivers do not decode: List-Unsubscribe must read `<https://...>`."""

    def fold(self, *, policy: EmailPolicy) -> str:
        line = f"{self.name}: {self}"
        if not line.isascii() or len(line) > MAX_LINE or "\r" in line or "\n" in line:
            raise ValueError(f"{self.name} cannot be written verbatim on one line")
        return line + policy.linesep


_HEADERS = HeaderRegistry()
for _name in ("List-Unsubscribe", "List-Unsubscribe-Post"):
    _HEADERS.map_to_type(_name.lower(), VerbatimHeader)
# CRLF: the file sink holds exactly the bytes the SMTP sender transmits
POLICY = SMTP.clone(header_factory=_HEADERS)


@dataclass(frozen=True)
class Email:
    key: str  # the outbox row id: one e-mail, however often it is re-sent
    to: str
    subject: str
    body: str
    sender: str
    # extra headers (List-Unsubscribe on marketing e-mail), as (name, value) pairs
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def message_id(self) -> str:
        # stable across re-sends after a crash, so a receiving server can drop the duplicate
        return f"<{self.key}@microspace.outbox>"

    def message(self) -> EmailMessage:
        msg = EmailMessage(policy=POLICY)
        msg["From"] = self.sender
        msg["To"] = self.to
        msg["Subject"] = self.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = self.message_id
        for name, value in self.headers:
            msg[name] = " ".join(value.split())  # no CR/LF can inject a header
        msg.set_content(self.body)
        return msg


class Sender(Protocol):
    async def send(self, email: Email) -> None:
        """Deliver `email` or raise; an exception means "retry later"."""


class FileSender:
    """Development sink: one `.eml` file per e-mail, named by its outbox id."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    async def send(self, email: Email) -> None:
        await asyncio.to_thread(self._write, email)

    def _write(self, email: Email) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(email.message().as_bytes())  # as SmtpSender sends them
        # atomic, and a re-send of the same e-mail replaces its file instead of adding one
        os.replace(tmp, self.directory / f"{email.key}.eml")

    def held_keys(self) -> list[str]:
        """The outbox ids of the e-mails the sink holds."""
        return [p.stem for p in self.directory.glob("*.eml")] if self.directory.is_dir() else []

    def forget(self, keys: list[str]) -> None:
        """Remove these e-mails: their outbox rows are gone (erasure, retention)."""
        for key in keys:
            (self.directory / f"{key}.eml").unlink(missing_ok=True)


class SmtpSender:
    """SMTP through smtplib (in a thread), STARTTLS by default."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, email: Email) -> None:
        await asyncio.to_thread(self._send, email)

    def _send(self, email: Email) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            # flattened with the message's policy: the bytes the file sink writes
            smtp.send_message(email.message())


def sender_from_settings(settings: Settings) -> Sender:
    if settings.mail_sender == "smtp":
        return SmtpSender(settings)
    if settings.mail_sender == "file":
        return FileSender(settings.mail_dir)
    raise ValueError(
        f"MICROSPACE_MAIL_SENDER must be 'smtp' or 'file', not {settings.mail_sender!r}"
    )


def _line(value: str) -> str:
    """One header line: no CR/LF from titles or subjects can inject a header."""
    return " ".join(value.split())[:200]


def render(
    kind: str, name: str | None, space_title: str | None, payload: dict[str, Any]
) -> tuple[str, str]:
    """Subject and plain-text body of an outbox row, rendered at send time."""
    hello = f"Hello {name}," if name else "Hello,"
    note = str(payload.get("message") or "")
    if kind == "space_invitation":
        subject = f"You are invited to {space_title}"
        body = f"{hello}\n\nYou have been invited to the space \u201c{space_title}\u201d."
        if payload.get("link"):
            body += f"\n\nOpen it here (the link is personal and expires): {payload['link']}"
    elif kind == "space_updated":
        subject = f"{space_title} has been updated"
        body = f"{hello}\n\nThe space \u201c{space_title}\u201d has been updated."
    elif kind == "subject_verification":
        subject = "Confirm your data request"
        body = (
            f"{hello}\n\nWe received a {payload.get('request_kind', 'data')} request for your "
            f"personal data. To confirm it was you, use this code: {payload.get('code', '')}\n\n"
            "If you did not ask for this, ignore this e-mail."
        )
    elif kind == "account_deletion":
        subject = "Confirm the permanent deletion of your account"
        body = (
            f"{hello}\n\nAn owner asked to delete this account and all of its data. To confirm, "
            f"use this code before it expires: {payload.get('code', '')}\n\n"
            "Deletion is immediate and permanent: nothing can undo it. If nobody of your "
            "company asked for this, ignore this e-mail."
        )
    elif kind == "subject_link":
        subject = "Your link to your data requests"
        body = (
            f"{hello}\n\nUse this token to file and follow requests about your personal data "
            f"(send it as `Authorization: Bearer ...`): {payload.get('token', '')}\n\n"
            "If you did not ask for this, ignore this e-mail."
        )
    elif kind == "webhook_failing":
        subject = "Webhook deliveries are failing"
        body = (
            f"{hello}\n\nDeliveries to the webhook endpoint {payload.get('url', '')} have failed "
            f"for a day; {payload.get('detail', '')}\n\nThe delivery log (`webhookDeliveries`) "
            "shows each attempt; `webhookDeliveryRetry` sends one again."
        )
    elif kind == "marketing":
        subject = str(payload.get("subject") or "")
        body = f"{hello}\n\n{payload.get('body') or ''}"
        note = ""
    else:
        raise ValueError(f"unknown e-mail kind {kind!r}")
    if note:
        body += f"\n\n{note}"
    return _line(subject), body + "\n"
