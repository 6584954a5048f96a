"""A user's profile: one SQLite file under EDGEWISE_HOME/profiles holding everything learned.

The file holds the user's corrections (feedback), writing samples, items with likes and
dislikes, and a cache of text embeddings keyed by model and text digest. It is opened in WAL
mode with ``synchronous=FULL``: a write is committed or absent, even if the process is killed
mid-way, and readers in other processes never block a writer. Every write is one
``BEGIN IMMEDIATE`` transaction, so two processes writing at once take turns (the busy timeout
waits for the lock) instead of corrupting the file. The schema version lives in SQLite's
``user_version``; ``MIGRATIONS`` brings an older file forward when it is opened. Files are
created with mode 0600 (SQLite gives its -wal and -shm files the same mode).

A file that is not a profile (corrupt, truncated, another format, or made by a newer edgewise)
raises ``CorruptProfileError`` naming the file; it is never recreated over the user's data.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgewise import config
from edgewise.errors import CorruptProfileError, InputError, ProfileNotFoundError
from edgewise.personal.records import MAX_TEXT_CHARS as MAX_TEXT_CHARS  # re-exported
from edgewise.personal.records import Feedback, Item, check_text, digest

if TYPE_CHECKING:
    import numpy as np

SUFFIX = ".sqlite"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_MAGIC = b"SQLite format 3\x00"

# Each entry moves the schema from version i to i + 1; never edit a released step, append one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY, text TEXT NOT NULL, label TEXT NOT NULL, created REAL NOT NULL
    );
    CREATE INDEX feedback_label ON feedback (label);
    CREATE TABLE writing (id INTEGER PRIMARY KEY, text TEXT NOT NULL, created REAL NOT NULL);
    CREATE TABLE items (
        id TEXT PRIMARY KEY, text TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}',
        rating INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, rated REAL
    );
    CREATE TABLE embeddings (
        model TEXT NOT NULL, digest BLOB NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,
        PRIMARY KEY (model, digest)
    ) WITHOUT ROWID;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def profiles_dir() -> Path:
    path = config.home() / "profiles"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def valid_name(name: str) -> str:
    key = str(name).strip().lower()
    if not _NAME.match(key):
        raise InputError(
            f"invalid profile name {name!r}: use 1-64 characters from a-z, 0-9, '.', '_', '-'"
        )
    return key


def profile_path(name: str) -> Path:
    return profiles_dir() / (valid_name(name) + SUFFIX)


def list_profiles() -> list[str]:
    """Names of the profiles in EDGEWISE_HOME."""
    return sorted(p.name[: -len(SUFFIX)] for p in profiles_dir().glob("*" + SUFFIX))


def delete_profile(name: str) -> None:
    """Remove a profile's file and its -wal/-shm companions."""
    path = profile_path(name)
    if not path.exists():
        raise ProfileNotFoundError(valid_name(name), list_profiles())
    for extra in ("-wal", "-shm", "-journal"):
        Path(str(path) + extra).unlink(missing_ok=True)
    path.unlink()


class Profile:
    """One user's profile. Open with ``Profile.create(name)`` or ``Profile.open(name)``."""

    def __init__(self, path: Path, name: str) -> None:
        self.path = path
        self.name = name
        self._conn = self._connect()

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls, name: str, *, labels: Sequence[str] | None = None, exist_ok: bool = False
    ) -> Profile:
        """Make a new empty profile (mode 0600). ``labels`` fixes its label set."""
        path = profile_path(name)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        except FileExistsError:
            if not exist_ok:
                raise InputError(
                    f"profile {valid_name(name)!r} already exists ({path}); "
                    "use it, or `edgewise profile delete` it first"
                ) from None
        profile = cls(path, valid_name(name))
        if labels is not None:
            profile.set_labels(labels)
        return profile

    @classmethod
    def open(cls, name: str) -> Profile:
        """Open an existing profile; ProfileNotFoundError lists the known ones."""
        path = profile_path(name)
        if not path.is_file():
            raise ProfileNotFoundError(valid_name(name), list_profiles())
        return cls(path, valid_name(name))

    def _connect(self) -> sqlite3.Connection:
        try:
            with self.path.open("rb") as fh:
                head = fh.read(len(_MAGIC))
        except OSError as exc:
            raise CorruptProfileError(str(self.path), str(exc)) from None
        if head and head != _MAGIC:
            raise CorruptProfileError(str(self.path), "not an SQLite database")
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.DatabaseError(f"cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CorruptProfileError(str(self.path), str(exc)) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CorruptProfileError(
                str(self.path),
                f"schema version {version} is newer than this edgewise ({SCHEMA_VERSION}); "
                "upgrade edgewise",
            )
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # another process may have migrated while we waited for the lock
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise sqlite3.DatabaseError("has tables but no edgewise schema version")
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step + 1}")
            if version == 0:
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('created', ?)",
                    (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Profile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Profile({self.name!r}, path={str(self.path)!r})"

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction; the lock is taken up front (no upgrade deadlock)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise CorruptProfileError(str(self.path), str(exc)) from None
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
                exc, sqlite3.IntegrityError
            ):
                raise CorruptProfileError(str(self.path), str(exc)) from None
            raise

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise CorruptProfileError(str(self.path), str(exc)) from None

    # ------------------------------------------------------------------ labels
    @property
    def labels(self) -> list[str] | None:
        """The profile's fixed label set, or None when any label may be taught."""
        rows = self._read("SELECT value FROM meta WHERE key = 'labels'")
        return json.loads(rows[0][0]) if rows else None

    def set_labels(self, labels: Sequence[str]) -> None:
        if isinstance(labels, str):
            labels = [p for p in labels.split(",")]
        clean = [str(lab).strip() for lab in labels]
        if len(clean) < 2 or any(not lab for lab in clean) or len(set(clean)) != len(clean):
            raise InputError(f"a label set needs two or more unique non-empty labels: {clean}")
        known = {row[0] for row in self._read("SELECT DISTINCT label FROM feedback")}
        if known - set(clean):
            raise InputError(
                f"the profile has corrections with labels outside {clean}: {sorted(known - set(clean))}"
            )
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('labels', ?)", (json.dumps(clean),))

    def _check_label(self, label: Any) -> str:
        if not isinstance(label, str) or not label.strip():
            raise InputError("a label must be a non-empty string")
        label = label.strip()
        allowed = self.labels
        if allowed is not None and label not in allowed:
            raise InputError(
                f"label {label!r} is not in the label set of profile {self.name!r}: {', '.join(allowed)}"
            )
        return label

    # ------------------------------------------------------------------ feedback
    def correct(self, text: str, label: str) -> int:
        """Record that ``text`` should be ``label``; returns the correction's id."""
        return self.correct_many([(text, label)])[0]

    def correct_many(self, pairs: Iterable[tuple[str, str]]) -> list[int]:
        """Record many corrections in one transaction (all or none)."""
        rows = [(check_text(t), self._check_label(lab)) for t, lab in pairs]
        now = time.time()
        with self._write() as db:
            return [
                int(
                    db.execute(
                        "INSERT INTO feedback (text, label, created) VALUES (?, ?, ?)",
                        (t, lab, now),
                    ).lastrowid
                    or 0
                )
                for t, lab in rows
            ]

    def feedback(self, labels: Sequence[str] | None = None) -> list[Feedback]:
        """The corrections, oldest first (only those with ``labels`` when given)."""
        rows = self._read("SELECT id, text, label, created FROM feedback ORDER BY id")
        wanted = set(labels) if labels is not None else None
        return [Feedback(*r) for r in rows if wanted is None or r[2] in wanted]

    # ------------------------------------------------------------------ writing
    def add_writing(self, texts: str | Iterable[str]) -> int:
        """Store samples of the user's own writing; returns how many were added."""
        items = [texts] if isinstance(texts, str) else list(texts)
        clean = [check_text(t, "writing sample") for t in items]
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT INTO writing (text, created) VALUES (?, ?)", [(t, now) for t in clean]
            )
        return len(clean)

    def writing(self) -> list[str]:
        return [r[0] for r in self._read("SELECT text FROM writing ORDER BY id")]

    # ------------------------------------------------------------------ items
    def add_items(self, items: Iterable[str | Mapping[str, Any]]) -> list[str]:
        """Store items (``{"id", "text", ...}`` or plain strings); returns their ids.

        An item without an id gets one from its text. Adding an id again replaces its text
        and metadata but keeps the user's rating.
        """
        rows = []
        for raw in items:
            text: Any
            meta: dict[str, Any]
            item_id: Any
            if isinstance(raw, str):
                text, meta, item_id = raw, {}, None
            elif isinstance(raw, Mapping):
                text = raw.get("text")
                meta = {k: v for k, v in raw.items() if k not in ("id", "text")}
                item_id = raw.get("id")
            else:
                raise InputError(f"an item is a string or an object with 'text': {raw!r}")
            check_text(text, "item text")
            assert isinstance(text, str)
            item_id = str(item_id) if item_id is not None else digest(text).hex()[:12]
            if not item_id.strip():
                raise InputError("an item id must not be empty")
            try:
                meta_json = json.dumps(meta, ensure_ascii=False)
            except (TypeError, ValueError):
                raise InputError(f"item {item_id!r} has metadata that is not JSON") from None
            rows.append((item_id, text, meta_json))
        now = time.time()
        with self._write() as db:
            db.executemany(
                "INSERT INTO items (id, text, meta, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET text = excluded.text, meta = excluded.meta",
                [(i, t, m, now) for i, t, m in rows],
            )
        return [r[0] for r in rows]

    def _rate(self, item_id: str, rating: int) -> None:
        with self._write() as db:
            cur = db.execute(
                "UPDATE items SET rating = ?, rated = ? WHERE id = ?",
                (rating, time.time(), str(item_id)),
            )
            if cur.rowcount == 0:
                raise InputError(
                    f"no item {item_id!r} in profile {self.name!r}; add it with add_items first"
                )

    def like(self, item_id: str) -> None:
        """Mark an item as liked."""
        self._rate(item_id, 1)

    def dislike(self, item_id: str) -> None:
        """Mark an item as disliked."""
        self._rate(item_id, -1)

    def unrate(self, item_id: str) -> None:
        self._rate(item_id, 0)

    def items(self, rating: int | None = None) -> list[Item]:
        sql = "SELECT id, text, meta, rating FROM items"
        args: tuple[Any, ...] = ()
        if rating is not None:
            sql += " WHERE rating = ?"
            args = (rating,)
        rows = self._read(sql + " ORDER BY created, id", args)
        return [Item(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def recommend(
        self, candidates: Sequence[Any] | None = None, k: int = 5, **options: Any
    ) -> list[Any]:
        """The ``k`` candidates this user is likeliest to want (``personal.recommend``)."""
        from edgewise.personal.ranking import recommend_for

        return recommend_for(self, candidates, k, **options)

    # ------------------------------------------------------------------ embeddings
    def embeddings(self, texts: Sequence[str], embedder: Any) -> np.ndarray:
        """Vectors of ``texts`` from ``embedder``, computed once and cached in the profile."""
        import numpy as np

        keys = [digest(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, dim, blob in self._read(
                f"SELECT digest, dim, vector FROM embeddings WHERE model = ? AND digest IN ({marks})",
                [embedder.name, *chunk],
            ):
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32, count=dim)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            todo = list({keys[i]: texts[i] for i in missing}.items())
            vectors = embedder.embed([t for _, t in todo])
            with self._write() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                    [
                        (embedder.name, k, int(v.shape[0]), np.asarray(v, np.float32).tobytes())
                        for (k, _), v in zip(todo, vectors)
                    ],
                )
            for (k, _), v in zip(todo, vectors):
                found[k] = np.asarray(v, dtype=np.float32)
        if not texts:
            return np.zeros((0, getattr(embedder, "dim", 0)), dtype=np.float32)
        return np.stack([found[k] for k in keys])

    # ------------------------------------------------------------------ inspection
    def info(self) -> dict[str, Any]:
        """Counts, size, labels and schema version (``edgewise profile show``)."""
        counts = {
            table: self._read(f"SELECT count(*) FROM {table}")[0][0]
            for table in ("feedback", "writing", "items", "embeddings")
        }
        ratings = dict(self._read("SELECT rating, count(*) FROM items GROUP BY rating"))
        per_label = dict(self._read("SELECT label, count(*) FROM feedback GROUP BY label"))
        size = sum(
            Path(str(self.path) + s).stat().st_size
            for s in ("", "-wal")
            if Path(str(self.path) + s).exists()
        )
        created = self._read("SELECT value FROM meta WHERE key = 'created'")
        return {
            "name": self.name,
            "path": str(self.path),
            "schema_version": self._read("PRAGMA user_version")[0][0],
            "created": created[0][0] if created else None,
            "labels": self.labels,
            "corrections": counts["feedback"],
            "corrections_per_label": per_label,
            "writing_samples": counts["writing"],
            "items": counts["items"],
            "liked": ratings.get(1, 0),
            "disliked": ratings.get(-1, 0),
            "cached_embeddings": counts["embeddings"],
            "bytes": size,
        }

    def integrity(self) -> str:
        """SQLite's integrity_check: "ok" or the first problems found."""
        rows = self._read("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    def export(self, *, embeddings: bool = True) -> dict[str, Any]:
        """Everything in the profile as plain JSON-ready data."""
        out: dict[str, Any] = {
            "format": "edgewise-profile",
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "meta": dict(self._read("SELECT key, value FROM meta ORDER BY key")),
            "labels": self.labels,
            "feedback": [
                {"id": f.id, "text": f.text, "label": f.label, "created": f.created}
                for f in self.feedback()
            ],
            "writing": [
                {"id": r[0], "text": r[1], "created": r[2]}
                for r in self._read("SELECT id, text, created FROM writing ORDER BY id")
            ],
            "items": [
                {"id": r[0], "text": r[1], "meta": json.loads(r[2]), "rating": r[3]}
                for r in self._read("SELECT id, text, meta, rating FROM items ORDER BY created, id")
            ],
        }
        if embeddings:
            out["embeddings"] = [
                {
                    "model": r[0],
                    "digest": bytes(r[1]).hex(),
                    "dim": r[2],
                    "float32_base64": base64.b64encode(r[3]).decode("ascii"),
                }
                for r in self._read(
                    "SELECT model, digest, dim, vector FROM embeddings ORDER BY model, digest"
                )
            ]
        return out


def open_profile(profile: Profile | str) -> Profile:
    """A Profile object for a name (opened) or the object itself."""
    return profile if isinstance(profile, Profile) else Profile.open(profile)
