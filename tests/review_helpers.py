"""Real review stores and real uvicorn servers on loopback for the review tests and the load benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tunewright.review.store import Store

ROOT = Path(__file__).resolve().parents[1]
XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'


def make_store(db: Path, n_items: int = 12, double_every: int = 0, gold_every: int = 0,
               xss_first: bool = False) -> tuple[Store, dict[str, str]]:
    """A SQLite store with ``n_items`` toy ner items and reviewers alice, bob; returns (store, tokens)."""
    store = Store(f"sqlite:///{db}")
    rows = []
    for i in range(n_items):
        text = f"Borrower {i} owes Silicon Valley Bank in California."
        if xss_first and i == 0:
            text = f"Borrower pays {XSS} to Bank."
        rows.append({"example_id": f"ex{i:04d}", "text": text,
                     "suggested": "[Borrower - PERSON, Silicon Valley Bank - ORGANIZATION]",
                     "evidence_json": {"votes": {"Borrower": {"party_roles": "PERSON"},
                                                 XSS if xss_first and i == 0 else "Bank": {"bank_word": "ORGANIZATION"}},
                                       "confidence": 0.8, "terms": {"uncertainty": 0.5}, "audit_reasons": []},
                     "required_reviews": 2 if double_every and i % double_every == 0 else 1,
                     "gold": "[Borrower - PERSON]" if gold_every and i % gold_every == 0 else None,
                     "source": f"toy.jsonl:{i + 1}"})
    store.add_items(rows)
    tokens = {name: store.add_reviewer(name) for name in ("alice", "bob")}
    return store, tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m tunewright.review.serve`` in a subprocess on 127.0.0.1; kill() is a hard SIGKILL."""

    def __init__(self, db_url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen([sys.executable, "-m", "tunewright.review.serve", "--db", db_url,
                                      "--port", str(self.port)], env=env, cwd=ROOT)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/login", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.kill()
        raise RuntimeError("review server did not start")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
