"""The review store on a real PostgreSQL: a throwaway cluster on loopback, started as a non-root user.

Skipped (with the reason) where PostgreSQL's server binaries or the psycopg driver are missing; .ci/run
installs both on Debian."""

import glob
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from review_helpers import Server, check_load, free_port, make_store, run_load
from tunewright.review.store import Store


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="module")
def pg_url():
    pytest.importorskip("psycopg")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    root = os.geteuid() == 0
    if root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as a non-root user")
    # a folder of its own outside pytest's root-only tmp tree, so the postgres user can reach it
    data = Path(tempfile.mkdtemp(prefix="tw-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if root else []
    if root:
        shutil.chown(data, "postgres")
    port = free_port()
    for cmd in ([f"{bindir}/initdb", "-D", str(data / "db"), "-A", "trust", "-U", "tw"],
                [f"{bindir}/pg_ctl", "-D", str(data / "db"), "-w", "-l", str(data / "log"), "-o",
                 f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=on", "start"]):
        r = subprocess.run([*as_user, *cmd], capture_output=True, text=True)
        assert r.returncode == 0, f"{cmd[0]} failed: {r.stdout}{r.stderr}"
    yield f"postgresql+psycopg://tw@127.0.0.1:{port}/postgres"
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data / "db"), "-m", "immediate", "stop"],
                   capture_output=True)
    shutil.rmtree(data, ignore_errors=True)


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
