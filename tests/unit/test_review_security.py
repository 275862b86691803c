"""The review app tried as an attacker would (issue 17): each finding with the request that showed it.
Real SQLite store, the real app through FastAPI's TestClient (and real multipart / urlencoded bodies)."""

import re
import stat
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review_helpers import local_client, make_store
from tunewright.pipeline import load_demo_config
from tunewright.evaluation.tasks import make_task
from tunewright.review import interop
from tunewright.review.app import MAX_BODY, create_app
from tunewright.review.service import final_labels, label_validator
from tunewright.review.store import Store

HOSTILE = "[a" + " " * 48_000 + "x]"
CFG = load_demo_config()  # the extraction task on ner_finance


def fields(html: str) -> dict[str, str]:
    first = html[html.index('<form method="post" action="/judge"'):]
    first = first[:first.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', first))


def login_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def sign_in(c, token):
    csrf = login_fields(c.get("/login").text)["csrf"]
    return c.post("/login", data={"token": token, "csrf": csrf}, follow_redirects=False)


@pytest.fixture
def env(tmp_path):
    store, tokens = make_store(tmp_path / "review.db", n_items=6)
    app = create_app(store, label_validator(CFG), entity_types=CFG.task.entity_types)
    return store, tokens, app


# -- denial of service -------------------------------------------------------------------------------------
def test_hostile_label_is_rejected_at_once_and_the_reader_is_linear(env):
    store, tokens, app = env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    f = fields(c.get("/item").text)
    t0 = time.perf_counter()
    r = c.post("/judge", data={**f, "action": "correct", "label": HOSTILE})
    dt = time.perf_counter() - t0
    assert r.status_code == 400 and "the limit is 4,000" in r.text and store.judgments() == []
    assert dt < 0.5, f"hostile label took {dt:.2f} s"  # it took 6.8 s before (quadratic regex)
    # the reader itself, without the length cap: 48,000 and 480,000 spaces both read in well under a second
    task = make_task(CFG.task)
    for n in (48_000, 480_000):
        t0 = time.perf_counter()
        assert task.parse("[a" + " " * n + "x]") is None
        assert time.perf_counter() - t0 < 0.5
    # the same shape under the cap reaches the reader and is refused in words
    r = c.post("/judge", data={**fields(r.text), "action": "correct", "label": "[a" + " " * 3000 + "x]"})
    assert r.status_code == 400 and "Cannot read the part" in r.text


def old_parse(text: str):
    """The backtracking reader the app had before (kept here only as the reference for the property test)."""
    types = "|".join(re.escape(t) for t in CFG.task.entity_types)
    item = re.compile(rf"\s*(.+?)\s+-\s+({types})\s*(?:,|$)")
    groups = re.findall(r"\[([^\[\]]*)\]", text.strip())
    if not groups:
        return [] if CFG.task.empty_answer.lower() in text.strip().lower() else None
    content, out, pos = groups[-1].strip(), [], 0
    while pos < len(content):
        m = item.match(content, pos)
        if m is None:
            return None
        out.append((m.group(1).strip(), m.group(2)))
        pos = m.end()
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "B c", " ", "  ", "-", " - ", ",", ", ", "PERSON", "LOCATION", "\n", "x-y",
                                 "ORGANIZATION", "\t"]), max_size=14))
def test_linear_reader_reads_what_the_old_one_read(parts):
    text = "[" + "".join(parts) + "]"
    new, old = make_task(CFG.task).parse(text), old_parse(text)
    # the only difference: the old reader could return an entity with an empty name; the new one refuses it
    assert new == old or (new is None and old is not None and any(name == "" for name, _ in old))


def test_oversized_body_is_refused_before_parsing(env):
    _, tokens, app = env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    f = fields(c.get("/item").text)
    r = c.post("/judge", data={**f, "action": "correct", "label": "x" * (MAX_BODY + 10)})
    assert r.status_code == 413 and "too large" in r.text


def test_a_hostile_post_does_not_hold_up_a_sign_in_page(tmp_path):
    """The finding: while the hostile label was checked, a sign-in page waited 6.3 s. On a real server now."""
    import httpx

    from review_helpers import Server

    db = tmp_path / "review.db"
    _, tokens = make_store(db, n_items=2)
    with Server(f"sqlite:///{db}") as srv:
        c = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {tokens['alice']}"})
        f = fields(c.get("/item").text)
        done = {}

        def attack():
            t0 = time.perf_counter()
            done["status"] = c.post("/judge", data={**f, "action": "correct", "label": HOSTILE}).status_code
            done["s"] = time.perf_counter() - t0

        th = threading.Thread(target=attack)
        th.start()
        t0 = time.perf_counter()
        assert httpx.get(srv.url + "/login").status_code == 200
        wait = time.perf_counter() - t0
        th.join()
    assert done["status"] == 400 and done["s"] < 1.0 and wait < 1.0


# -- login CSRF, origin, host ------------------------------------------------------------------------------
def test_login_csrf_from_another_port_is_refused(env):
    """The attack: a page on 127.0.0.1:9999 sets the sign-in cookie and posts another reviewer's token."""
    store, tokens, app = env
    attacker = local_client(app)  # the attacker fetches a valid sign-in form + cookie for themselves
    page = attacker.get("/login")
    nonce, csrf = attacker.cookies.get("tw_login"), login_fields(page.text)["csrf"]
    victim = local_client(app, headers={"Origin": "http://127.0.0.1:9999"})
    victim.cookies.set("tw_login", nonce)  # cookies do not separate ports: the attacker's page can set this
    r = victim.post("/login", data={"token": tokens["bob"], "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 403 and "not from this review app" in r.text and "tw_session" not in r.headers.get(
        "set-cookie", "")
    # same origin but a browser saying the form came from another port (Sec-Fetch-Site: same-site)
    r = local_client(app, headers={"Sec-Fetch-Site": "same-site"}).post("/login", data={"token": tokens["bob"]})
    assert r.status_code == 403
    # no Origin at all (and no bearer token): refused
    bare = local_client(app)
    del bare.headers["Origin"]
    assert bare.post("/login", data={"token": tokens["bob"], "csrf": csrf}).status_code == 403


def test_login_csrf_token_is_bound_to_the_browser_nonce_and_expires(env, monkeypatch):
    _, tokens, app = env
    a, b = local_client(app), local_client(app)
    csrf_a = login_fields(a.get("/login").text)["csrf"]
    b.get("/login")  # b has its own nonce cookie; a's form token does not match it
    assert b.post("/login", data={"token": tokens["alice"], "csrf": csrf_a}).status_code == 403
    issued, mac = csrf_a.split(".")
    assert a.post("/login", data={"token": tokens["alice"], "csrf": f"{int(issued) + 1}.{mac}"}).status_code == 403
    import tunewright.review.app as app_mod

    monkeypatch.setattr(app_mod.time, "time", lambda: int(issued) + app_mod.LOGIN_TTL + 5)
    r = a.post("/login", data={"token": tokens["alice"], "csrf": csrf_a})
    assert r.status_code == 403 and "expired" in r.text


def test_every_post_checks_origin_and_every_request_checks_host(env):
    store, tokens, app = env
    c = local_client(app)
    assert sign_in(c, tokens["alice"]).status_code == 303
    f = fields(c.get("/item").text)
    evil = {"Origin": "http://127.0.0.1:9999"}
    assert c.post("/judge", data={**f, "action": "accept"}, headers=evil).status_code == 403
    assert c.post("/logout", data={"csrf": "x"}, headers=evil).status_code == 403
    assert store.judgments() == []
    # DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends Host: evil.example
    r = c.get("/login", headers={"Host": "evil.example:8765"})
    assert r.status_code == 400 and "host name" in r.text
    assert c.get("/login", headers={"Host": "localhost:8765"}).status_code == 200
    # scripts with a bearer token (no browser, no Origin) still work
    bot = local_client(app, headers={"Authorization": f"Bearer {tokens['bob']}"})
    del bot.headers["Origin"]
    fb = fields(bot.get("/item").text)
    assert bot.post("/judge", data={**fb, "action": "accept"}, follow_redirects=False).status_code == 303


# -- junk labels -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("label,words", [
    ("I think maybe [Evil - PERSON] lol", "text outside the brackets"),
    ("[Evil - PERSON]", "does not occur in the sentence"),
    ("[Borrower - PERSON] [Bank - ORGANIZATION]", "one pair of square brackets"),
    ("[Borrower - ROBOT]", "Cannot read the part"),
    ("Borrower", "square brackets"),
])
def test_junk_corrections_are_refused_in_words(env, label, words):
    store, tokens, app = env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    f = fields(c.get("/item").text)
    r = c.post("/judge", data={**f, "action": "correct", "label": label})
    assert r.status_code == 400 and words in r.text and store.judgments() == []
    assert "Traceback" not in r.text and "ValueError" not in r.text


def test_labels_are_stored_re_serialised(env):
    store, tokens, app = env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    f = fields(c.get("/item").text)
    r = c.post("/judge", data={**f, "action": "correct", "label": "  [Borrower  -   PERSON,Silicon Valley Bank - "
                                                                  "ORGANIZATION ]  "}, follow_redirects=False)
    assert r.status_code == 303
    (j,) = store.judgments()
    assert j.after == "[Borrower - PERSON, Silicon Valley Bank - ORGANIZATION]" and j.action == "accept"


def test_invalid_utf8_in_multipart_and_urlencoded_is_refused(env):
    store, tokens, app = env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    f = fields(c.get("/item").text)
    r = c.post("/judge", data={k: v for k, v in f.items()} | {"action": "correct"},
               files={"label": (None, b"[Borrower \xff\xfe - PERSON]")})
    assert r.status_code == 400 and "UTF-8" in r.text
    body = "&".join(f"{k}={v}" for k, v in {**f, "action": "correct"}.items()) + "&label=%5BBorrower%FF+-+PERSON%5D"
    r = c.post("/judge", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "UTF-8" in r.text
    assert store.judgments() == []


def test_one_bad_stored_row_does_not_sink_the_exports(env, tmp_path):
    """A store written before labels were checked holds junk: the exports skip that row and say so."""
    store, tokens, app = env
    items = store.items()
    store.record_judgment(items[0].id, "alice", "correct", "I think maybe [Evil - PERSON] lol", "old-1")
    store.record_judgment(items[1].id, "alice", "correct", "[Borrower - PERSON]", "old-2")
    problems: list = []
    n = interop.export_label_studio(store, CFG, tmp_path / "ls.json", problems)
    assert n == 6 and len(problems) == 1 and problems[0]["example_id"] == "ex0000"
    problems = []
    assert interop.export_argilla(store, CFG, tmp_path / "ar.jsonl", problems) == 6 and len(problems) == 1
    final = final_labels(store, label_validator(CFG), problems := [])
    assert set(final) == {"ex0001"} and problems[0]["judgment_id"] == store.judgments()[0].id


# -- silent discards, revisions, undo ----------------------------------------------------------------------
def test_second_tab_is_told_already_recorded_and_can_revise(env):
    store, tokens, app = env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    tab1 = fields(c.get("/item").text)
    tab2 = fields(c.get("/item").text)  # a reload / second tab: the same leased item, a new form
    assert tab1["item_id"] == tab2["item_id"] and tab1["form_key"] != tab2["form_key"]
    assert c.post("/judge", data={**tab1, "action": "accept"}, follow_redirects=False).status_code == 303
    r = c.post("/judge", data={**tab2, "action": "correct", "label": "[Borrower - PERSON]"})
    assert r.status_code == 409 and "Already recorded" in r.text and "NOT saved" in r.text
    assert "accept" in r.text and len(store.judgments()) == 1
    # the same form replayed with another answer: also refused, not silently dropped
    r2 = c.post("/judge", data={**tab1, "action": "correct", "label": "[Borrower - PERSON]"})
    assert r2.status_code == 409 and len(store.judgments()) == 1
    # the 409 page is a revision form, pre-filled with what the reviewer tried to save
    rev = fields(r.text)
    assert rev["supersedes"] == str(store.judgments()[0].id) and "[Borrower - PERSON]" in r.text
    ok = c.post("/judge", data={**rev, "action": "correct", "label": "[Borrower - PERSON]"}, follow_redirects=False)
    assert ok.status_code == 303
    first, second = store.judgments()
    assert (first.action, first.after, first.revision) == ("accept", first.before, 0)  # never updated in place
    assert (second.action, second.after, second.revision, second.supersedes) == (
        "correct", "[Borrower - PERSON]", 1, first.id)
    assert final_labels(store)["ex0000"]["label"] == "[Borrower - PERSON]"
    # the revision form cannot be used twice (the second would revise a judgment that is no longer current)
    again = c.post("/judge", data={**rev, "action": "skip"})
    assert again.status_code == 409 and len(store.judgments()) == 2


def test_undo_last_judgment_adds_a_superseding_row(env):
    store, tokens, app = env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    f = fields(c.get("/item").text)
    c.post("/judge", data={**f, "action": "skip"})
    page = c.get("/item")
    assert 'id="undo"' in page.text and "5 of 6 left for you" in page.text
    undo = c.get("/revise")
    assert undo.status_code == 200 and "Revising your judgment" in undo.text
    u = fields(undo.text)
    assert u["item_id"] == f["item_id"]
    c.post("/judge", data={**u, "action": "accept"}, follow_redirects=False)
    js = store.judgments()
    assert [(j.action, j.revision) for j in js] == [("skip", 0), ("accept", 1)] and js[1].supersedes == js[0].id
    assert [j.id for j in store.judgments(current_only=True)] == [js[1].id]  # the skip is superseded, still stored
    assert local_client(app).get("/revise").status_code == 401


def test_adjudication_view_shows_both_labels_and_who_gave_them(tmp_path):
    store, tokens = make_store(tmp_path / "review.db", n_items=3, double_every=3)
    app = create_app(store, label_validator(CFG), entity_types=CFG.task.entity_types)
    i0 = store.items()[0]
    store.record_judgment(i0.id, "alice", "accept", i0.suggested, "a0")
    store.record_judgment(i0.id, "bob", "correct", "[Borrower - PERSON]", "b0")
    carol = store.add_reviewer("carol")
    c = local_client(app)
    sign_in(c, carol)
    page = c.get("/item").text
    assert 'id="adjudication"' in page and fields(page)["item_id"] == str(i0.id)
    conflicts = page[page.index('id="conflicts"'):page.index("</table>", page.index('id="conflicts"'))]
    assert "alice" in conflicts and "bob" in conflicts and "[Borrower - PERSON]" in conflicts
    assert i0.suggested in conflicts


# -- leasing -----------------------------------------------------------------------------------------------
def test_concurrent_reviewers_get_different_items_and_leases_expire(tmp_path, monkeypatch):
    import tunewright.review.store as store_mod

    clock = [1_000_000.0]  # a fake clock: a busy machine must not expire the leases mid-test
    monkeypatch.setattr(store_mod.time, "time", lambda: clock[0])
    store, _ = make_store(tmp_path / "r.db", n_items=8)
    store = Store(store.url, lease_seconds=60)
    names = [f"r{i}" for i in range(5)]
    got, barrier = {}, threading.Barrier(5)

    def take(n):
        barrier.wait()
        got[n] = store.next_item(n).id

    ts = [threading.Thread(target=take, args=(n,)) for n in names]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(set(got.values())) == 5  # five reviewers at once: five different single-review items
    assert store.next_item("r0").id == got["r0"]  # a reload keeps the same item
    assert store.progress("zed")["left"] == 3
    clock[0] += 61  # everyone went to lunch: the leases ran out, the items are open again
    assert store.next_item("zed").id == min(got.values())


# -- the store file, sign-out, revoke ----------------------------------------------------------------------
def test_store_file_is_private(tmp_path):
    make_store(tmp_path / "review.db", n_items=1)
    assert stat.S_IMODE((tmp_path / "review.db").stat().st_mode) == 0o600
    loose = tmp_path / "old.db"
    loose.touch(mode=0o644)
    Store(f"sqlite:///{loose}")
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


def test_sign_out_ends_the_session_and_revoke_retires_the_token(env):
    store, tokens, app = env
    c = local_client(app)
    sign_in(c, tokens["alice"])
    session = c.cookies.get("tw_session")
    assert session and session != tokens["alice"]  # the cookie holds a session, not the reviewer token
    page = c.get("/item").text
    logout_csrf = page[page.rindex('action="/logout"'):]
    logout_csrf = re.search(r'name="csrf" value="([^"]+)"', logout_csrf).group(1)
    assert c.post("/logout", data={"csrf": logout_csrf}, follow_redirects=False).status_code == 303
    stolen = local_client(app)
    stolen.cookies.set("tw_session", session)
    assert stolen.get("/item").status_code == 401  # a copied cookie is dead after sign-out
    # revoke: the token and every session of the reviewer stop working; a new token is issued
    b = local_client(app)
    sign_in(b, tokens["bob"])
    new = store.revoke("bob", reissue=True)
    assert b.get("/item").status_code == 401
    assert local_client(app, headers={"Authorization": f"Bearer {tokens['bob']}"}).get("/item").status_code == 401
    assert local_client(app, headers={"Authorization": f"Bearer {new}"}).get("/item").status_code == 200
    with pytest.raises(ValueError, match="no reviewer"):
        store.revoke("mallory")
