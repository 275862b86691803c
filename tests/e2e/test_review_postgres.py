"""The review store on a real PostgreSQL: a throwaway cluster on loopback, started as a non-root user.

Skipped (with the reason) where PostgreSQL's server binaries or the psycopg driver are missing; .ci/run
installs both on Debian."""

import threading


from review_helpers import Server, check_load, make_store, run_load
from tunewright.review.store import Store


def _fresh(pg_url):
    from tunewright.review.store import Base

    store = Store(pg_url)
    Base.metadata.drop_all(store.engine)
    Base.metadata.create_all(store.engine)
    return store


def test_postgres_idempotent_and_concurrent(pg_url, tmp_path, monkeypatch):
    store = _fresh(pg_url)
    monkeypatch.setattr("review_helpers.Store", lambda url: store)
    store, tokens = make_store(tmp_path / "unused.db", n_items=4)
    item = store.items()[0]
    a = store.record_judgment(item.id, "alice", "accept", item.suggested, "k1")
    b = store.record_judgment(item.id, "alice", "accept", item.suggested, "k1")
    assert a.created and not b.created and a.judgment_id == b.judgment_id
    results = []
    barrier = threading.Barrier(8)

    def same_form():  # eight simultaneous submissions of one form: one row
        barrier.wait()
        results.append(store.record_judgment(item.id, "bob", "correct", "[X - PERSON]", "k2").created)

    ts = [threading.Thread(target=same_form) for _ in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(results) == [False] * 7 + [True]
    assert len(store.judgments()) == 2


def test_postgres_server_under_load(pg_url, tmp_path, monkeypatch):
    store = _fresh(pg_url)
    monkeypatch.setattr("review_helpers.Store", lambda url: store)
    store, _ = make_store(tmp_path / "unused.db", n_items=120)
    tokens = [store.add_reviewer(f"r{i:02d}") for i in range(10)]
    with Server(pg_url) as srv:
        result = run_load(srv.url, tokens, submissions=10)
    stats = check_load(store, result)
    assert result["errors"] == [] and stats["acknowledged"] == 100
    assert stats["lost"] == 0 and stats["duplicated"] == 0 and stats["rows"] == 100
    assert stats["over_reviewed"] == 0  # leased with SELECT ... FOR UPDATE SKIP LOCKED: one reviewer per item
