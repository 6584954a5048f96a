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
import itertools
import re
from collections.abc import Iterator
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, Field

from edgewise.errors import InputError
from edgewise.jsonl import json_objects


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


_BOM = b"\xef\xbb\xbf"
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNICODE_ERROR = "not valid Unicode (lone surrogate)"


def _parse_eml(data: bytes, default_id: str) -> Email:
    """One message file: a BOM and blank lines before the headers are dropped (the parser
    would read a blank first line as the end of an empty header block)."""
    return _parse_bytes(data.removeprefix(_BOM).lstrip(), default_id)


def _clean(name: str) -> str:
    """A file name as text: bytes the file system name could not decode (kept by Python as
    lone surrogates, which no UTF-8 output can hold) become U+FFFD."""
    return _SURROGATE.sub("\ufffd", name)


def read_inbox(path: str | Path) -> Iterator[Email]:
    """Yield the emails of an mbox file, a directory of .eml files, or a JSONL file.

    JSONL lines are objects with ``id``, ``subject``, ``from`` and ``body`` (id defaults to
    ``line-N``). A ``.jsonl`` file is read as JSONL and a ``.mbox`` file as mbox; any other
    file is recognised by its first text: ``{`` is JSONL, ``From `` is mbox, anything else one
    message. A UTF-8 BOM and blank lines before the first record are skipped; an empty or
    blank file raises InputError ("no messages"). A record that cannot be read (a line that is
    not a JSON object, a lone surrogate escape, a malformed message) is yielded with ``error``
    set and the rest go on.

    Reading is lazy and in one pass, so memory holds one message at a time and the inbox may
    be a pipe (``<(zcat inbox.mbox.gz)``) as well as a file.
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
                data = p.read_bytes()
            except OSError as exc:
                yield Email(id=_clean(p.stem), error=f"cannot read: {exc.strerror}")
                continue
            yield _parse_eml(data, _clean(p.stem))
        return
    try:
        with path.open("rb") as fh:
            kind, first, number = _sniff(path, fh)
            if kind is None:
                raise InputError(f"{path}: no messages (the file is empty or blank)")
            stem = _clean(path.stem)
            lines = itertools.chain([first], fh)
            if kind == "jsonl":
                yield from _read_jsonl(lines, number)
            elif kind == "mbox":
                yield from _read_mbox(lines, number, stem)
            else:
                yield _parse_eml(first + fh.read(), stem)  # a single .eml file
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _sniff(path: Path, fh: BinaryIO) -> tuple[str | None, bytes, int]:
    """The inbox format, the first line that is not blank (BOM and leading blanks removed)
    and its line number; ``(None, b"", 0)`` for an empty or blank file. Reads only up to that
    line, so the rest of a pipe is still there to read."""
    number = 0
    while True:
        line = fh.readline()
        if not line:
            return None, b"", 0
        number += 1
        if number == 1:
            line = line.removeprefix(_BOM)
        if line.strip():
            break
    first = line.lstrip()
    suffix = path.suffix.lower()
    if suffix == ".jsonl" or (suffix != ".mbox" and first.startswith(b"{")):
        return "jsonl", first, number
    if suffix == ".mbox" or first.startswith(b"From "):
        return "mbox", first, number
    return "eml", first, number


def count_inbox(path: str | Path) -> int | None:
    """How many records ``read_inbox`` will yield (for a progress bar), by a quick pass that
    parses nothing; None when the inbox cannot be read again (a pipe) or cannot be read at all
    (``read_inbox`` says why)."""
    path = Path(path)
    try:
        if path.is_dir():
            return sum(1 for p in path.iterdir() if p.suffix.lower() == ".eml")
        if not path.is_file():  # a pipe: counting would consume what read_inbox reads
            return None
        with path.open("rb") as fh:
            kind, first, _ = _sniff(path, fh)
            if kind == "jsonl":
                return 1 + sum(1 for line in fh if line.strip())
            if kind == "mbox":
                return (not first.startswith(b"From ")) + sum(
                    1 for line in itertools.chain([first], fh) if line.startswith(b"From ")
                )
            return 0 if kind is None else 1
    except (OSError, ValueError):
        return None


def _read_mbox(lines: Iterator[bytes], first_number: int, stem: str) -> Iterator[Email]:
    """Split an mbox at its ``From `` lines, as ``mailbox.mbox`` does (the blank line before a
    ``From `` line separates, it is not part of the message), without seeking, so a pipe
    works. Text before the first ``From `` line is reported, not dropped."""
    n = 0
    message: list[bytes] | None = None
    for number, line in enumerate(lines, first_number):
        if line.startswith(b"From "):
            if message is not None:
                yield _mbox_entry(message, f"{stem}-{n}")
            n += 1
            message = []
        elif message is not None:
            message.append(line)
        elif number == first_number:  # the first line is not blank (_sniff): report it once
            yield Email(
                id=f"{stem}-0",
                error=f"line {number}: not an mbox message (text before the first 'From ' line)",
            )
    if message is not None:
        yield _mbox_entry(message, f"{stem}-{n}")


def _mbox_entry(lines: list[bytes], default_id: str) -> Email:
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines.pop()
    return _parse_bytes(b"".join(lines), default_id)


def _read_jsonl(lines: Iterator[bytes], first_number: int) -> Iterator[Email]:
    for n, obj, problem in json_objects(lines, first_number):
        if obj is None:
            yield Email(id=f"line-{n}", error=problem)
            continue
        mail_id = str(obj.get("id", f"line-{n}"))
        fields = {
            "subject": obj.get("subject", ""),
            "sender": obj.get("from", obj.get("sender", "")),
            "date": obj.get("date", ""),
            "body": obj.get("body", obj.get("text", "")),
        }
        wrong = [k for k, v in fields.items() if v is not None and not isinstance(v, str)]
        if _SURROGATE.search(mail_id):
            # JSON can escape half a surrogate pair ("\ud800"); no UTF-8 output holds one
            yield Email(id=f"line-{n}", error=f"line {n}: {_UNICODE_ERROR}")
            continue
        if wrong:
            name = {"sender": "from"}.get(wrong[0], wrong[0])
            yield Email(id=mail_id, error=f"line {n}: '{name}' must be a string")
            continue
        if any(v and _SURROGATE.search(v) for v in fields.values()):
            yield Email(id=mail_id, error=f"line {n}: {_UNICODE_ERROR}")
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
