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


def local_client(app, **kw):
    """A TestClient that talks to the app as a browser on its own page would: Host 127.0.0.1 and the matching
    Origin on every request (the app refuses a POST from any other origin)."""
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://127.0.0.1", headers={"Origin": "http://127.0.0.1", **kw.pop("headers", {})},
                      **kw)


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
        demo = str(ROOT / "src" / "tunewright" / "demo.yaml")  # the review tests judge ner_finance entities
        self.proc = subprocess.Popen([sys.executable, "-m", "tunewright.review.serve", "--db", db_url, "--config", demo,
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


def hidden_fields(html: str) -> dict[str, str]:
    """Hidden fields of the first form on the page (the judge form on an item page)."""
    import re

    first = html[html.index("<form"):html.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', first))


def run_load(url: str, tokens: list[str], submissions: int, resubmit_every: int = 5) -> dict:
    """Each token is one reviewer thread: ``submissions`` times fetch the next item and accept it; every
    ``resubmit_every``-th form is posted twice (a double click). Returns the acknowledged form keys and timings."""
    import threading

    acked: list[tuple[str, str]] = []  # (reviewer token, form_key) answered 303
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(tokens))

    def reviewer(token: str) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            barrier.wait()  # everyone starts at once
            for k in range(submissions):
                page = c.get("/item")
                if 'id="done"' in page.text:
                    with lock:
                        errors.append("queue ran out")
                    return
                f = hidden_fields(page.text)
                for attempt in range(2 if (k + 1) % resubmit_every == 0 else 1):
                    t0 = time.perf_counter()
                    r = c.post("/judge", data={**f, "action": "accept"}, follow_redirects=False)
                    dt = time.perf_counter() - t0
                    with lock:
                        if r.status_code == 303:
                            latencies.append(dt)
                            if attempt == 0:
                                acked.append((token, f["form_key"]))
                        else:
                            errors.append(f"{r.status_code}: {r.text[:200]}")

    threads = [threading.Thread(target=reviewer, args=(t,)) for t in tokens]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"acked": acked, "latencies": latencies, "errors": errors, "wall_s": time.perf_counter() - t0}


def check_load(store: Store, result: dict) -> dict:
    """Lost = acknowledged forms with no row; duplicated = rows beyond one per form and per (item, reviewer)."""
    import numpy as np

    rows = store.judgments()
    required = {it.id: it.required_reviews for it in store.items()}
    per_item: dict[int, int] = {}
    for j in store.judgments(current_only=True):
        if j.action != "skip":
            per_item[j.item_id] = per_item.get(j.item_id, 0) + 1
    keys = [j.form_key for j in rows]
    pairs = [(j.item_id, j.reviewer) for j in rows]
    acked = {k for _, k in result["acked"]}
    lat = np.array(result["latencies"]) * 1000
    return {"acknowledged": len(acked), "rows": len(rows), "lost": len(acked - set(keys)),
            "duplicated": (len(keys) - len(set(keys))) + (len(pairs) - len(set(pairs))),
            "unacknowledged_rows": len(set(keys) - acked), "errors": len(result["errors"]),
            # items judged by more reviewers than they need: what leasing prevents
            "over_reviewed": sum(1 for i, n in per_item.items() if n > required[i]),
            "max_judgments_per_item": max(per_item.values(), default=0),
            "posts": len(result["latencies"]), "wall_s": round(result["wall_s"], 3),
            "throughput_posts_per_s": round(len(result["latencies"]) / result["wall_s"], 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
            "p95_ms": round(float(np.percentile(lat, 95)), 1) if len(lat) else None}
