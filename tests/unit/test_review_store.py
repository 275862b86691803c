"""The review store on real SQLite: durability settings, idempotent forms, concurrent reviewers, the queue."""

import sqlite3
import threading

import pytest

from review_helpers import make_store


def test_sqlite_runs_wal_with_full_sync(tmp_path):
    store, _ = make_store(tmp_path / "r.db", n_items=1)
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    assert sqlite3.connect(tmp_path / "r.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_same_form_submitted_concurrently_is_stored_once(tmp_path):
    store, _ = make_store(tmp_path / "r.db", n_items=2)
    item = store.items()[0]
    barrier, created = threading.Barrier(8), []

    def submit():
        barrier.wait()
        created.append(store.record_judgment(item.id, "alice", "accept", item.suggested, "form-1").created)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(created) == [False] * 7 + [True] and len(store.judgments()) == 1


def test_two_reviewers_at_once_on_one_item_both_kept(tmp_path):
    store, _ = make_store(tmp_path / "r.db", n_items=1)
    item = store.items()[0]
    barrier = threading.Barrier(2)

    def submit(who, label):
        barrier.wait()
        store.record_judgment(item.id, who, "correct", label, f"form-{who}")

    ts = [threading.Thread(target=submit, args=a) for a in (("alice", "[A - PERSON]"), ("bob", "[B - PERSON]"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert {(j.reviewer, j.after) for j in store.judgments()} == {("alice", "[A - PERSON]"), ("bob", "[B - PERSON]")}


def test_one_judgment_per_reviewer_per_item_and_valid_actions(tmp_path):
    store, tokens = make_store(tmp_path / "r.db", n_items=2)
    item = store.items()[0]
    first = store.record_judgment(item.id, "alice", "accept", item.suggested, "k1")
    again = store.record_judgment(item.id, "alice", "correct", "[X - PERSON]", "k2")  # a second tab
    assert again.judgment_id == first.judgment_id and not again.created and len(store.judgments()) == 1
    with pytest.raises(ValueError, match="action"):
        store.record_judgment(item.id, "bob", "delete", None, "k3")
    assert store.reviewer_for_token(tokens["bob"]) == "bob" and store.reviewer_for_token("nope") is None
    with pytest.raises(ValueError, match="exists"):
        store.add_reviewer("bob")


def test_queue_order_skip_and_double_review(tmp_path):
    store, _ = make_store(tmp_path / "r.db", n_items=3, double_every=2)  # items 0 and 2 need two reviewers
    i0, i1, i2 = store.items()
    assert store.next_item("alice").id == i0.id
    store.record_judgment(i0.id, "alice", "skip", None, "a0")  # a skip passes the item on, it is not a review
    assert store.next_item("alice").id == i1.id and store.next_item("bob").id == i0.id
    store.record_judgment(i1.id, "alice", "accept", i1.suggested, "a1")
    assert store.next_item("bob").id == i0.id
    store.record_judgment(i0.id, "bob", "accept", i0.suggested, "b0")
    assert store.next_item("bob").id == i2.id  # i1 had its one review from alice
    # i2 still needs two reviews and bob holds one lease on it: one left for alice
    assert store.progress("alice") == {"left": 1, "mine": 2, "items": 3, "judgments_needed": 5, "judgments_made": 2}


def test_reviewer_disagreement_sends_the_item_to_a_third_reviewer_first(tmp_path):
    store, _ = make_store(tmp_path / "r.db", n_items=4, double_every=2)  # items 0 and 2 need two reviewers
    i0 = store.items()[0]
    store.record_judgment(i0.id, "alice", "accept", i0.suggested, "a0")
    store.record_judgment(i0.id, "bob", "correct", "[Borrower - PERSON]", "b0")
    store.add_reviewer("carol")
    assert store.item(i0.id).required_reviews == 3
    assert store.next_item("carol").id == i0.id  # ahead of the untouched items
    store.record_judgment(i0.id, "carol", "correct", "[Borrower - PERSON]", "c0")
    assert store.next_item("carol").id != i0.id
    from tunewright.review.service import final_labels

    f = final_labels(store)["ex0000"]
    assert f["label"] == "[Borrower - PERSON]" and not f["agreement"] and f["reviewers"] == ["alice", "bob", "carol"]


def test_the_same_example_twice_in_one_batch_is_queued_once(tmp_path):
    store, _ = make_store(tmp_path / "r.db", n_items=1)
    row = {"example_id": "dup", "text": "< PAGE >", "suggested": "No entities found", "evidence_json": {}}
    assert store.add_items([row, dict(row)]) == 1 and store.add_items([row]) == 0
    assert [it.example_id for it in store.items()] == ["ex0000", "dup"]
