"""Read an inbox (mbox file, directory of .eml files, or JSONL) into plain-text emails.

Parsing uses the standard library ``email`` package: headers are decoded (RFC 2047), multipart
messages are walked for the best text part, HTML-only mail is converted to text, and
quoted-printable/base64 bodies and declared charsets are decoded (undecodable bytes become
U+FFFD instead of an error). A message that cannot be parsed at all is returned with ``error``
set so the caller can report it and go on with the rest.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import mailbox
import re
from collections.abc import Iterator
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from pathlib import Path

from pydantic import BaseModel, Field

from edgewise.errors import InputError


class Email(BaseModel):
    """One message, reduced to what a classifier reads."""

    id: str
    subject: str = ""
    sender: str = Field(default="", description="The From header, decoded.")
    date: str = ""
    body: str = ""
    attachments: list[str] = Field(default_factory=list)
    error: str | None = None

    def as_text(self) -> str:
        """The text given to the model: subject, sender, attachment names, body."""
        head = [f"Subject: {self.subject}", f"From: {self.sender}"]
        if self.attachments:
            head.append("Attachments: " + ", ".join(self.attachments))
        return "\n".join(head) + "\n\n" + self.body


class _Text(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Readable text from HTML: scripts and styles dropped, blocks on their own lines."""
    parser = _Text()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # malformed markup: fall back to stripping tags
        text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _payload_text(part: Message) -> str:
    raw = part.get_payload(decode=True)
    if raw is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    assert isinstance(raw, bytes)
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return raw.decode("utf-8", errors="replace")


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a header the policy cannot parse
        value = msg.get_all(name, [""])[0] if hasattr(msg, "get_all") else ""
    # unfolded (a line break and the indentation after it become one space, a tab a space);
    # runs of spaces inside the value are kept, as classification keeps them: spam pads its
    # subjects
    return re.sub(r"[ \t]*\r?\n[ \t]*", " ", str(value or "")).replace("\t", " ").strip()


def from_message(msg: Message, default_id: str) -> Email:
    """Reduce a parsed message to an Email; never raises for a malformed message."""
    mail_id = _header(msg, "Message-ID").strip("<>") or default_id
    try:
        plain: list[str] = []
        htmls: list[str] = []
        attachments: list[str] = []
        for part in msg.walk() if msg.is_multipart() else [msg]:
            if part.is_multipart():
                continue
            filename = part.get_filename()
            disposition = (part.get_content_disposition() or "").lower()
            if filename or disposition == "attachment":
                attachments.append(filename or part.get_content_type())
                continue
            ctype = part.get_content_type()
            if ctype == "text/plain":
                plain.append(_payload_text(part))
            elif ctype == "text/html":
                htmls.append(_payload_text(part))
        body = "\n\n".join(p.strip() for p in plain if p.strip())
        if not body and htmls:
            body = "\n\n".join(html_to_text(h) for h in htmls)
        defects = [type(d).__name__ for d in getattr(msg, "defects", [])]
        subject, sender = _header(msg, "Subject"), _header(msg, "From")
        error = None
        if not (subject or sender):
            error = "malformed message: no From or Subject header" + (
                f" ({', '.join(defects)})" if defects else ""
            )
        return Email(
            id=mail_id,
            subject=subject,
            sender=sender,
            date=_header(msg, "Date"),
            body=body.strip(),
            attachments=attachments,
            error=error,
        )
    except Exception as exc:
        return Email(id=mail_id, error=f"malformed message: {exc}")


def _parse_bytes(data: bytes, default_id: str) -> Email:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return from_message(msg, default_id)


def read_inbox(path: str | Path) -> Iterator[Email]:
    """Yield the emails of an mbox file, a directory of .eml files, or a JSONL file.

    JSONL lines are objects with ``id``, ``subject``, ``from`` and ``body`` (id defaults to the
    line number). Reading is lazy, so memory does not grow with the inbox.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".eml")
        if not files:
            raise InputError(f"{path}: no .eml files in this directory")
        for p in files:
            try:
                yield _parse_bytes(p.read_bytes(), p.stem)
            except OSError as exc:
                yield Email(id=p.stem, error=f"cannot read: {exc.strerror}")
        return
    with path.open("rb") as fh:
        head = fh.read(5)
    if head.startswith(b"From "):
        yield from _read_mbox(path)
    elif head.lstrip()[:1] == b"{":
        yield from _read_jsonl(path)
    elif head:
        yield _parse_bytes(path.read_bytes(), path.stem)  # a single .eml file
    else:
        raise InputError(f"{path}: the file is empty")


def count_inbox(path: str | Path) -> int | None:
    """How many records ``read_inbox`` will yield (for a progress bar), by a quick pass that
    parses nothing; None when the inbox cannot be read (``read_inbox`` says why)."""
    path = Path(path)
    try:
        if path.is_dir():
            return sum(1 for p in path.iterdir() if p.suffix.lower() == ".eml")
        with path.open("rb") as fh:
            head = fh.read(5)
            if head.startswith(b"From "):
                box = mailbox.mbox(str(path), create=False)
                try:
                    return len(box)
                finally:
                    box.close()
            if head.lstrip()[:1] == b"{":
                fh.seek(0)
                return sum(1 for line in fh if line.strip())
            return 1 if head else 0
    except (OSError, ValueError):
        return None


def _read_mbox(path: Path) -> Iterator[Email]:
    box = mailbox.mbox(str(path), create=False)
    try:
        for n, key in enumerate(box.iterkeys(), 1):
            try:
                data = box.get_bytes(key)
            except Exception as exc:
                yield Email(id=f"{path.stem}-{n}", error=f"malformed mbox entry: {exc}")
                continue
            yield _parse_bytes(data, f"{path.stem}-{n}")
    finally:
        box.close()


def _read_jsonl(path: Path) -> Iterator[Email]:
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                yield Email(id=f"line-{n}", error=f"line {n}: invalid JSON ({exc})")
                continue
            mail_id = str(obj.get("id", f"line-{n}"))
            fields = {
                "subject": obj.get("subject", ""),
                "sender": obj.get("from", obj.get("sender", "")),
                "date": obj.get("date", ""),
                "body": obj.get("body", obj.get("text", "")),
            }
            wrong = [k for k, v in fields.items() if v is not None and not isinstance(v, str)]
            if wrong:
                name = {"sender": "from"}.get(wrong[0], wrong[0])
                yield Email(id=mail_id, error=f"line {n}: '{name}' must be a string")
                continue
            if not any(k in obj for k in ("subject", "body", "text")):
                yield Email(
                    id=mail_id, error=f"line {n}: no 'subject' or 'body' field (keys: {list(obj)})"
                )
                continue
            yield Email(
                id=mail_id,
                subject=fields["subject"] or "",
                sender=fields["sender"] or "",
                date=fields["date"] or "",
                body=fields["body"] or "",
            )
