"""The review app through FastAPI's TestClient on a real SQLite store: auth, escaping, CSRF, idempotency."""

import re

import pytest

from review_helpers import local_client, make_store
from tunewright.pipeline import load_demo_config
from tunewright.review.app import create_app
from tunewright.review.service import agreement, final_labels, label_validator


def form_fields(html: str) -> dict[str, str]:
    """Hidden fields of the first form on the page (the judge form on an item page)."""
    first = html[html.index("<form"):html.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', first))


def sign_in(client, token: str):
    page = client.get("/login")
    csrf = form_fields(page.text)["csrf"]
    return client.post("/login", data={"token": token, "csrf": csrf}, follow_redirects=False)


@pytest.fixture
def app_env(tmp_path):
    store, tokens = make_store(tmp_path / "review.db", n_items=6, double_every=3, gold_every=2, xss_first=True)
    cfg = load_demo_config()
    app = create_app(store, label_validator(cfg), entity_types=cfg.task.entity_types)
    return store, tokens, app


@pytest.mark.parametrize("method,path", [("get", "/"), ("get", "/item"), ("post", "/judge"), ("post", "/logout"),
                                         ("get", "/static/review.js"), ("get", "/api/progress")])
def test_every_route_needs_a_token(app_env, method, path):
    _, _, app = app_env
    c = local_client(app)
    assert getattr(c, method)(path).status_code == 401
    assert getattr(c, method)(path, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_sign_in_needs_the_form_csrf_and_a_real_token(app_env):
    _, tokens, app = app_env
    c = local_client(app)
    c.get("/login")
    assert c.post("/login", data={"token": tokens["alice"], "csrf": "forged"}).status_code == 403
    assert sign_in(c, "not-a-token").status_code == 401
    r = sign_in(c, tokens["alice"])
    assert r.status_code == 303 and r.headers["location"] == "/item"
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()


def test_untrusted_text_is_escaped_and_scripts_are_locked_down(app_env):
    _, tokens, app = app_env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    page = c.get("/item")
    assert page.status_code == 200
    assert "<script>window.__pwned" not in page.text and "onerror=\"window" not in page.text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page.text  # shown as text, in example and evidence
    assert page.text.count("&lt;script&gt;") == 3  # the example, the evidence table, the span picker's data
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_forged_or_transplanted_forms_are_refused(app_env):
    store, tokens, app = app_env
    alice, bob = local_client(app), local_client(app)
    sign_in(alice, tokens["alice"])
    sign_in(bob, tokens["bob"])
    f = form_fields(alice.get("/item").text)
    forged = {**f, "csrf": "0" * 64, "action": "accept"}
    assert alice.post("/judge", data=forged).status_code == 403
    other_item = {**f, "item_id": str(int(f["item_id"]) + 1), "action": "accept"}
    assert alice.post("/judge", data=other_item).status_code == 403
    assert bob.post("/judge", data={**f, "action": "accept"}).status_code == 403  # alice's form, bob's session
    assert alice.post("/logout", data={"csrf": "nope"}).status_code == 403
    assert store.judgments() == []


def test_resubmitted_form_does_not_duplicate(app_env):
    store, tokens, app = app_env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    f = form_fields(c.get("/item").text)
    for _ in range(3):
        r = c.post("/judge", data={**f, "action": "accept"}, follow_redirects=False)
        assert r.status_code == 303
    js = store.judgments()
    assert len(js) == 1 and js[0].reviewer == "alice" and js[0].action == "accept"
    assert form_fields(c.get("/item").text)["item_id"] != f["item_id"]  # the queue moved on


def test_correction_is_validated_and_recorded_with_before_and_after(app_env):
    store, tokens, app = app_env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    f = form_fields(c.get("/item").text)
    bad = c.post("/judge", data={**f, "action": "correct", "label": "[Borrower - ROBOT]"})
    assert bad.status_code == 400 and "Cannot read the part" in bad.text and store.judgments() == []
    f2 = form_fields(bad.text)
    ok = c.post("/judge", data={**f2, "action": "correct", "label": "[Borrower - PERSON]"}, follow_redirects=False)
    assert ok.status_code == 303
    (j,) = store.judgments()
    assert (j.action, j.after, j.before) == ("correct", "[Borrower - PERSON]",
                                             "[Borrower - PERSON, Silicon Valley Bank - ORGANIZATION]")
    assert j.created_at.endswith("+00:00")


def test_double_review_gold_and_agreement(app_env):
    store, tokens, app = app_env
    clients = {}
    for name in ("alice", "bob"):
        clients[name] = local_client(app)
        sign_in(clients[name], tokens[name])
    seen = {"alice": [], "bob": []}
    for name, label in (("alice", "[Borrower - PERSON]"), ("bob", None)):
        while True:
            page = clients[name].get("/item")
            if 'id="done"' in page.text:
                break
            f = form_fields(page.text)
            seen[name].append(int(f["item_id"]))
            data = {**f, "action": "correct", "label": label} if label else {**f, "action": "accept"}
            assert clients[name].post("/judge", data=data, follow_redirects=False).status_code == 303
    # 6 items, items 0 and 3 need two reviewers: alice takes all 6, bob only the two still short of a review
    assert len(seen["alice"]) == 6 and len(seen["bob"]) == 2
    assert len(store.judgments()) == 8
    final = final_labels(store)
    assert len(final) == 6 and not final["ex0000"]["agreement"]
    rep = agreement(store)
    (pair,) = rep["pairs"]
    assert pair["items"] == 2 and pair["percent_agreement"] == 0.0
    # gold on items 0, 2, 4 is "[Borrower - PERSON]": alice matches it, bob (accepting the suggestion) does not
    assert rep["gold_accuracy"]["alice"]["accuracy"] == 1.0 and rep["gold_accuracy"]["bob"]["accuracy"] == 0.0


def test_no_request_parameter_reaches_a_path(app_env):
    _, tokens, app = app_env
    c = local_client(app, headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert "keydown" in c.get("/static/review.js").text
    for path in ("/static/../store.py", "/static/%2e%2e/store.py", "/static/review.css", "/templates/item.html"):
        r = c.get(path)
        assert r.status_code == 404 and "import" not in r.text
