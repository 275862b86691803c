"""The review store (SQLAlchemy): reviewers, sessions, queued items, leases, and judgments that are never lost,
doubled or overwritten.

- Durability: a judgment is committed before the app answers. SQLite runs in WAL mode with
  ``synchronous=FULL``, so a committed judgment survives a killed server (and a power cut). The SQLite file
  is created 0600 (it holds the CSRF secret and token hashes); SQLite gives its -wal/-shm files the same mode.
- No overwrites: a judgment is an insert, never an update. A reviewer who changes their mind adds a
  *revision*: a new row with ``supersedes`` = the row it replaces and ``revision`` one higher; the unique
  (item, reviewer, revision) constraint makes two revisions of the same judgment impossible. "Current"
  judgments are the rows nobody superseded.
- Reviewers who disagree on an item send it to a third reviewer, first in the queue (adjudication).
- No duplicates: each rendered form carries a fresh ``form_key`` with a UNIQUE constraint; a resubmitted form
  hits the constraint and gets the judgment it already made. A second first judgment of an item by the same
  reviewer (a second tab) is refused and answered with the judgment already recorded.
- Leases: handing out an item leases it to that reviewer for ``lease_seconds``; an item is handed to at most
  as many reviewers at once as it still needs judgments, so five reviewers starting together get five
  different items. An expired lease frees the item again (a reviewer who went to lunch).
- Sessions: signing in exchanges the reviewer's token for a session token (stored as a hash); signing out
  deletes the session, and :meth:`Store.revoke` retires a reviewer's token and all their sessions.
- SQLite transactions begin IMMEDIATE (take the write lock up front): a deferred transaction that reads and
  then writes can fail with SQLITE_BUSY under concurrency instead of waiting for busy_timeout. On
  PostgreSQL the leasing transaction locks the candidate item rows (``SELECT ... FOR UPDATE``).

A ``postgresql://`` URL works unchanged (needs the psycopg driver).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (Float, ForeignKey, Integer, String, Text, UniqueConstraint, create_engine, delete, event,
                        exists, func, select)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column

from tunewright.errors import InputError


ACTIONS = ("accept", "correct", "skip")


class Base(DeclarativeBase):
    pass


class Reviewer(Base):
    __tablename__ = "reviewers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[str] = mapped_column(String(40))


class ReviewSession(Base):
    __tablename__ = "sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[str] = mapped_column(String(40))
    expires: Mapped[float] = mapped_column(Float)  # unix time


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, index=True)  # rank in the queue, 0 = most valuable
    example_id: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)  # what the reviewer reads (untrusted)
    suggested: Mapped[str] = mapped_column(Text)  # the label model's answer
    evidence_json: Mapped[str] = mapped_column(Text)  # votes per function, confidence, queue terms, audit reasons
    required_reviews: Mapped[int] = mapped_column(Integer, default=1)
    gold: Mapped[str | None] = mapped_column(Text, nullable=True)  # known answer: measures reviewer accuracy
    source: Mapped[str] = mapped_column(String(500), default="")


class Lease(Base):
    __tablename__ = "leases"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires: Mapped[float] = mapped_column(Float, index=True)  # unix time


class Judgment(Base):
    __tablename__ = "judgments"
    __table_args__ = (UniqueConstraint("item_id", "reviewer", "revision", name="one_revision_per_step"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[str] = mapped_column(Text)  # the suggestion the reviewer saw
    after: Mapped[str | None] = mapped_column(Text, nullable=True)  # the label they gave (None for skip)
    created_at: Mapped[str] = mapped_column(String(40))
    form_key: Mapped[str] = mapped_column(String(64), unique=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # 0 = first judgment, n = n-th revision
    supersedes: Mapped[int | None] = mapped_column(ForeignKey("judgments.id"), nullable=True, unique=True)


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass
class Recorded:
    judgment_id: int
    created: bool  # False: nothing was added, see ``reason`` and ``current``
    reason: str = "created"  # created | same_form (this form was posted before) | already_judged | stale_revision
    current: Judgment | None = None  # the reviewer's current judgment of the item when nothing was added


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _current_filter():
    """Judgments nobody superseded."""
    later = aliased(Judgment)
    return ~exists().where(later.supersedes == Judgment.id)


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use the umask, typically 0644); tighten an
    existing file the same way."""
    db = make_url(url).database
    if not db or db == ":memory:" or db.startswith("file:"):
        return
    path = Path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)


class Store:
    def __init__(self, url: str, lease_seconds: float = 1800.0, session_seconds: float = 12 * 3600.0):
        self.url = url
        self.lease_seconds = lease_seconds
        self.session_seconds = session_seconds
        self.is_sqlite = url.startswith("sqlite")
        kwargs = {"connect_args": {"timeout": 60, "check_same_thread": False}} if self.is_sqlite else {}
        if self.is_sqlite:
            _private_sqlite_file(url)
        self.engine = create_engine(url, pool_pre_ping=not self.is_sqlite, **kwargs)
        if self.is_sqlite:
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" hook issue BEGIN IMMEDIATE
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA busy_timeout=60000")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

            @event.listens_for(self.engine, "begin")
            def _begin(conn):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        Base.metadata.create_all(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- settings --------------------------------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        with self.session() as s:
            row = s.get(Setting, key)
            return row.value if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.session() as s, s.begin():
            s.merge(Setting(key=key, value=value))

    def secret(self) -> str:
        """The HMAC key for CSRF tokens, made once per store."""
        v = self.get_setting("csrf_secret")
        if v is None:
            try:
                with self.session() as s, s.begin():
                    s.add(Setting(key="csrf_secret", value=secrets.token_hex(32)))
            except IntegrityError:
                pass  # another process made it first
            v = self.get_setting("csrf_secret")
        return v

    # -- reviewers and sessions ------------------------------------------------------------------------
    def add_reviewer(self, name: str) -> str:
        """Create a reviewer; returns their token (shown once, stored only as a hash)."""
        token = secrets.token_urlsafe(24)
        try:
            with self.session() as s, s.begin():
                s.add(Reviewer(name=name, token_sha256=token_hash(token), created_at=now()))
        except IntegrityError:
            raise InputError(f"reviewer {name!r} exists already") from None
        return token

    def reviewer_for_token(self, token: str | None) -> str | None:
        if not token or len(token) > 200:
            return None
        with self.session() as s:
            r = s.scalar(select(Reviewer).where(Reviewer.token_sha256 == token_hash(token)))
            return r.name if r else None

    def reviewers(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Reviewer.name).order_by(Reviewer.name)))

    def revoke(self, name: str, reissue: bool = False) -> str | None:
        """Retire ``name``'s token and end all their sessions; with ``reissue``, return a new token."""
        token = secrets.token_urlsafe(24) if reissue else None
        if name not in self.reviewers():
            raise InputError(f"no reviewer {name!r}; reviewers: {', '.join(self.reviewers()) or 'none'}")
        with self.session() as s, s.begin():
            r = s.scalar(select(Reviewer).where(Reviewer.name == name))
            # a hash no token has: the old token stops working at once
            r.token_sha256 = token_hash(token) if token else "revoked-" + secrets.token_hex(24)
            s.execute(delete(ReviewSession).where(ReviewSession.reviewer == name))
        return token

    def start_session(self, reviewer_token: str) -> tuple[str, str] | None:
        """Exchange a reviewer token for (reviewer, session token); None for an unknown token."""
        name = self.reviewer_for_token(reviewer_token)
        if name is None:
            return None
        token = secrets.token_urlsafe(32)
        with self.session() as s, s.begin():
            s.execute(delete(ReviewSession).where(ReviewSession.expires < time.time()))
            s.add(ReviewSession(token_sha256=token_hash(token), reviewer=name, created_at=now(),
                                expires=time.time() + self.session_seconds))
        return name, token

    def reviewer_for_session(self, token: str | None) -> str | None:
        if not token or len(token) > 200:
            return None
        with self.session() as s:
            r = s.get(ReviewSession, token_hash(token))
            return r.reviewer if r is not None and r.expires > time.time() else None

    def end_session(self, token: str | None) -> None:
        if token:
            with self.session() as s, s.begin():
                s.execute(delete(ReviewSession).where(ReviewSession.token_sha256 == token_hash(token)))

    # -- items -----------------------------------------------------------------------------------------
    def add_items(self, rows: list[dict]) -> int:
        """Queue items (dicts with Item's fields); an example already queued is left as it is; returns how many
        were added."""
        with self.session() as s, s.begin():
            have = set(s.scalars(select(Item.example_id)))
            start = (s.scalar(select(func.max(Item.position))) or -1) + 1
            new = []
            for r in rows:  # an example already queued, or twice in these rows (identical texts), is queued once
                if r["example_id"] not in have:
                    have.add(r["example_id"])
                    new.append(r)
            for k, r in enumerate(new):
                s.add(Item(position=start + k, **{**r, "evidence_json": json.dumps(r.get("evidence_json", {}))}))
        return len(new)

    def item(self, item_id: int) -> Item | None:
        with self.session() as s:
            return s.get(Item, item_id)

    def items(self) -> list[Item]:
        with self.session() as s:
            return list(s.scalars(select(Item).order_by(Item.position)))

    @staticmethod
    def _open_for(reviewer: str, t: float):
        """Conditions for an item ``reviewer`` may be handed: not judged by them, and fewer current non-skip
        judgments plus other reviewers' live leases than it needs."""
        mine = select(Judgment.item_id).where(Judgment.reviewer == reviewer)
        done = (select(func.count(Judgment.id)).where(Judgment.item_id == Item.id, Judgment.action != "skip",
                                                      _current_filter()).scalar_subquery())
        held = (select(func.count()).select_from(Lease).where(Lease.item_id == Item.id, Lease.reviewer != reviewer,
                                                              Lease.expires > t).scalar_subquery())
        return Item.id.not_in(mine), done + held < Item.required_reviews

    def next_item(self, reviewer: str) -> Item | None:
        """Lease and return the most valuable item open to this reviewer; the item they already hold if it is
        still open to them (a reload gets the same item)."""
        t = time.time()
        with self.session() as s, s.begin():
            s.execute(delete(Lease).where(Lease.expires <= t))
            q = select(Item).where(*self._open_for(reviewer, t))
            held = s.scalar(q.where(Item.id.in_(select(Lease.item_id).where(Lease.reviewer == reviewer)))
                            .order_by(Item.position).limit(1))
            item, tried = held, []
            while item is None:
                item = s.scalar(q.where(Item.id.not_in(tried)).order_by(Item.position).limit(1)
                                .with_for_update(skip_locked=True))
                if item is None:
                    break
                # PostgreSQL (read committed): the statement's snapshot may predate a lease another reviewer
                # committed on this row just before we locked it; with the row lock held, count again
                if s.scalar(select(Item.id).where(Item.id == item.id, *self._open_for(reviewer, t))) is None:
                    tried.append(item.id)
                    item = None
            s.execute(delete(Lease).where(Lease.reviewer == reviewer))  # one lease per reviewer at a time
            if item is not None:
                s.add(Lease(item_id=item.id, reviewer=reviewer, expires=t + self.lease_seconds))
            return item

    def progress(self, reviewer: str) -> dict[str, int]:
        """``left`` of ``items`` are still open to this reviewer ("12 of 100 left for you")."""
        t = time.time()
        with self.session() as s:
            left = s.scalar(select(func.count(Item.id)).where(*self._open_for(reviewer, t)))
            mine = s.scalar(select(func.count(Judgment.id)).where(Judgment.reviewer == reviewer, _current_filter()))
            total = s.scalar(select(func.count(Item.id)))
            needed = s.scalar(select(func.coalesce(func.sum(Item.required_reviews), 0)))
            made = s.scalar(select(func.count(Judgment.id)).where(Judgment.action != "skip", _current_filter()))
            return {"left": left or 0, "mine": mine or 0, "items": total or 0, "judgments_needed": needed or 0,
                    "judgments_made": made or 0}

    # -- judgments -------------------------------------------------------------------------------------
    def record_judgment(self, item_id: int, reviewer: str, action: str, after: str | None, form_key: str,
                        supersedes: int | None = None) -> Recorded:
        """Insert one judgment and commit. Without ``supersedes`` it is the reviewer's first judgment of the
        item; with it, a revision of that (current) judgment. Nothing is added, and ``Recorded.reason`` says
        why, when the form was posted before (same_form), the reviewer already judged the item (already_judged)
        or the judgment to revise is not their current one (stale_revision)."""
        if action not in ACTIONS:
            raise InputError(f"action must be one of {ACTIONS}, got {action!r}")
        try:
            with self.session() as s, s.begin():
                item = s.get(Item, item_id)
                if item is None:
                    raise KeyError(item_id)
                same = s.scalar(select(Judgment).where(Judgment.form_key == form_key))
                if same is not None:
                    return Recorded(same.id, False, "same_form", self._current(s, same.item_id, same.reviewer))
                cur = self._current(s, item_id, reviewer)
                if supersedes is None and cur is not None:
                    return Recorded(cur.id, False, "already_judged", cur)
                if supersedes is not None and (cur is None or cur.id != supersedes):
                    return Recorded(cur.id if cur else 0, False, "stale_revision", cur)
                j = Judgment(item_id=item_id, reviewer=reviewer, action=action, before=item.suggested,
                             after=None if action == "skip" else after, created_at=now(), form_key=form_key,
                             revision=0 if cur is None else cur.revision + 1, supersedes=supersedes)
                s.add(j)
                s.flush()
                jid = j.id
                s.execute(delete(Lease).where(Lease.item_id == item_id, Lease.reviewer == reviewer))
                self._adjudicate_if_split(s, item)
            return Recorded(jid, True, "created", j)  # the with-block committed before we return
        except IntegrityError:  # a concurrent insert won the race (PostgreSQL; SQLite serialises)
            with self.session() as s:
                same = s.scalar(select(Judgment).where(Judgment.form_key == form_key))
                cur = self._current(s, item_id, reviewer)
                if same is None and cur is None:
                    raise
                return Recorded((same or cur).id, False, "same_form" if same else "already_judged", cur)

    @staticmethod
    def _current(s: Session, item_id: int, reviewer: str) -> Judgment | None:
        return s.scalar(select(Judgment).where(Judgment.item_id == item_id, Judgment.reviewer == reviewer,
                                               _current_filter()).order_by(Judgment.revision.desc()).limit(1))

    def current_judgment(self, item_id: int, reviewer: str) -> Judgment | None:
        with self.session() as s:
            return self._current(s, item_id, reviewer)

    def last_judgment(self, reviewer: str) -> Judgment | None:
        """The reviewer's most recent current judgment (what "undo" revises)."""
        with self.session() as s:
            return s.scalar(select(Judgment).where(Judgment.reviewer == reviewer, _current_filter())
                            .order_by(Judgment.id.desc()).limit(1))

    def judgment(self, judgment_id: int) -> Judgment | None:
        with self.session() as s:
            return s.get(Judgment, judgment_id)

    @staticmethod
    def _adjudicate_if_split(s: Session, item: Item) -> None:
        """Reviewers who disagree make the item worth one more look: it needs a third (non-skip) judgment
        and moves to the front of the queue. Same transaction as the judgment that split the vote."""
        labels = list(s.scalars(select(Judgment.after).where(Judgment.item_id == item.id, Judgment.action != "skip",
                                                             _current_filter())))
        if len(labels) >= 2 and len(set(labels)) > 1 and item.required_reviews < 3:
            item.required_reviews = 3
            item.position = (s.scalar(select(func.min(Item.position))) or 0) - 1

    def judgments(self, current_only: bool = False) -> list[Judgment]:
        """Every judgment row in order (revisions included), or only the current ones."""
        with self.session() as s:
            q = select(Judgment).order_by(Judgment.id)
            return list(s.scalars(q.where(_current_filter()) if current_only else q))

    def item_judgments(self, item_id: int) -> list[Judgment]:
        """The current judgments of one item (the adjudication view)."""
        with self.session() as s:
            return list(s.scalars(select(Judgment).where(Judgment.item_id == item_id, _current_filter())
                                  .order_by(Judgment.id)))
