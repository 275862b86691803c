"""The review store (SQLAlchemy): reviewers, queued items, and judgments that are never lost or doubled.

- Durability: a judgment is committed before the app answers. SQLite runs in WAL mode with
  ``synchronous=FULL``, so a committed judgment survives a killed server (and a power cut).
- No overwrites: a judgment is an insert, never an update; two reviewers on one item make two rows.
- Reviewers who disagree on an item send it to a third reviewer, first in the queue (adjudication).
- No duplicates: each rendered form carries a fresh ``form_key`` with a UNIQUE constraint; a resubmitted form
  hits the constraint and gets the judgment it already made. One reviewer judges an item at most once.
- SQLite transactions begin IMMEDIATE (take the write lock up front): a deferred transaction that reads and
  then writes can fail with SQLITE_BUSY under concurrency instead of waiting for busy_timeout.

A ``postgresql://`` URL works unchanged (needs the psycopg driver).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import (ForeignKey, Integer, String, Text, UniqueConstraint, create_engine, event, func, select)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
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


class Judgment(Base):
    __tablename__ = "judgments"
    __table_args__ = (UniqueConstraint("item_id", "reviewer", name="one_judgment_per_reviewer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    before: Mapped[str] = mapped_column(Text)  # the suggestion the reviewer saw
    after: Mapped[str | None] = mapped_column(Text, nullable=True)  # the label they gave (None for skip)
    created_at: Mapped[str] = mapped_column(String(40))
    form_key: Mapped[str] = mapped_column(String(64), unique=True)


class Setting(Base):
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass
class Recorded:
    judgment_id: int
    created: bool  # False: this form was already submitted (or the reviewer had judged the item)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Store:
    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs = {"connect_args": {"timeout": 60, "check_same_thread": False}} if self.is_sqlite else {}
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

    # -- reviewers -------------------------------------------------------------------------------------
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
        if not token:
            return None
        with self.session() as s:
            r = s.scalar(select(Reviewer).where(Reviewer.token_sha256 == token_hash(token)))
            return r.name if r else None

    def reviewers(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(select(Reviewer.name).order_by(Reviewer.name)))

    # -- items -----------------------------------------------------------------------------------------
    def add_items(self, rows: list[dict]) -> int:
        """Queue items (dicts with Item's fields); an example already queued is left as it is."""
        with self.session() as s, s.begin():
            have = set(s.scalars(select(Item.example_id)))
            start = (s.scalar(select(func.max(Item.position))) or -1) + 1
            new = [r for r in rows if r["example_id"] not in have]
            for k, r in enumerate(new):
                s.add(Item(position=start + k, **{**r, "evidence_json": json.dumps(r.get("evidence_json", {}))}))
        return len(new)

    def item(self, item_id: int) -> Item | None:
        with self.session() as s:
            return s.get(Item, item_id)

    def items(self) -> list[Item]:
        with self.session() as s:
            return list(s.scalars(select(Item).order_by(Item.position)))

    def next_item(self, reviewer: str) -> Item | None:
        """The most valuable item this reviewer has not judged that still needs a (non-skip) judgment."""
        with self.session() as s:
            mine = select(Judgment.item_id).where(Judgment.reviewer == reviewer)
            done = (select(func.count(Judgment.id)).where(Judgment.item_id == Item.id, Judgment.action != "skip")
                    .scalar_subquery())
            q = (select(Item).where(Item.id.not_in(mine), done < Item.required_reviews)
                 .order_by(Item.position).limit(1))
            return s.scalar(q)

    def progress(self, reviewer: str) -> dict[str, int]:
        with self.session() as s:
            mine = s.scalar(select(func.count(Judgment.id)).where(Judgment.reviewer == reviewer))
            total = s.scalar(select(func.count(Item.id)))
            needed = s.scalar(select(func.coalesce(func.sum(Item.required_reviews), 0)))
            made = s.scalar(select(func.count(Judgment.id)).where(Judgment.action != "skip"))
            return {"mine": mine or 0, "items": total or 0, "judgments_needed": needed or 0,
                    "judgments_made": made or 0}

    # -- judgments -------------------------------------------------------------------------------------
    def record_judgment(self, item_id: int, reviewer: str, action: str, after: str | None, form_key: str) -> Recorded:
        """Insert one judgment and commit; a repeated form_key (or a second judgment of the same item by the
        same reviewer) returns the existing row instead of a duplicate."""
        if action not in ACTIONS:
            raise InputError(f"action must be one of {ACTIONS}, got {action!r}")
        try:
            with self.session() as s, s.begin():
                item = s.get(Item, item_id)
                if item is None:
                    raise KeyError(item_id)
                j = Judgment(item_id=item_id, reviewer=reviewer, action=action, before=item.suggested,
                             after=None if action == "skip" else after, created_at=now(), form_key=form_key)
                s.add(j)
                s.flush()
                jid = j.id
                self._adjudicate_if_split(s, item)
            return Recorded(jid, True)  # the with-block committed before we return
        except IntegrityError:
            with self.session() as s:
                j = s.scalar(select(Judgment).where(Judgment.form_key == form_key)) or s.scalar(
                    select(Judgment).where(Judgment.item_id == item_id, Judgment.reviewer == reviewer))
                if j is None:
                    raise
                return Recorded(j.id, False)

    @staticmethod
    def _adjudicate_if_split(s: Session, item: Item) -> None:
        """Reviewers who disagree make the item worth one more look: it needs a third (non-skip) judgment
        and moves to the front of the queue. Same transaction as the judgment that split the vote."""
        labels = list(s.scalars(select(Judgment.after).where(Judgment.item_id == item.id, Judgment.action != "skip")))
        if len(labels) >= 2 and len(set(labels)) > 1 and item.required_reviews < 3:
            item.required_reviews = 3
            item.position = (s.scalar(select(func.min(Item.position))) or 0) - 1

    def judgments(self) -> list[Judgment]:
        with self.session() as s:
            return list(s.scalars(select(Judgment).order_by(Judgment.id)))
