"""End to end in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): label demo data,
queue it, sign in, review five items with the keyboard only, and find the judgments in the export."""

import shutil
from pathlib import Path

import pytest

from review_helpers import ROOT, XSS, Server, make_store
from tunewright.assets import resolve_path
from tunewright.pipeline import load_demo_config
from tunewright.labeling.run import label_examples, load_functions, write_labeling
from tunewright.records import read_examples, read_files
from tunewright.review.service import export_reviewed, init_review
from tunewright.review.store import Store

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run installs it)")]


@pytest.fixture
def browser(tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        # a fresh profile per test (Playwright passes it as --user-data-dir)
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield ctx
        ctx.close()


def sign_in(page, url, token):
    page.goto(url + "/login")
    page.fill("#token", token)
    page.keyboard.press("Enter")
    page.wait_for_selector("#example")


def test_review_five_items_by_keyboard_then_export(tmp_path, browser):
    cfg = load_demo_config(overrides=[f"labeling.functions_module={ROOT / 'examples/labeling/finance_lfs.py'}",
                             f"labeling.rules_file={ROOT / 'examples/labeling/finance_rules.yaml'}",
                             "review.budget=20", "review.double_review_share=0", "review.gold_share=0.5"])
    examples = read_files([resolve_path(cfg.data.train_files[0])], max_records=80).examples
    result = label_examples(cfg, examples, load_functions(cfg), progress=False)
    lab_dir = tmp_path / "labeling"
    write_labeling(lab_dir, examples, result)
    db = f"sqlite:///{lab_dir / 'review.db'}"
    store = Store(db)
    assert init_review(cfg, lab_dir, examples, store) == 20
    token = store.add_reviewer("carol")
    with Server(db) as srv:
        page = browser.new_page()
        sign_in(page, srv.url, token)
        seen = []
        for k in range(5):
            page.wait_for_selector("#example")
            item_text = page.inner_text("#example")
            seen.append(item_text)
            if k == 1:  # correct by keyboard: c focuses the field, type, Enter saves
                page.keyboard.press("c")
                page.keyboard.type("[Borrower - PERSON]")
                page.keyboard.press("Enter")
            elif k == 3:
                page.keyboard.press("s")
            else:
                page.keyboard.press("a")
            page.wait_for_function("t => document.querySelector('#example') === null || "
                                   "document.querySelector('#example').innerText !== t", arg=item_text)
        assert "you judged 5" in page.inner_text("#progress")
    out = tmp_path / "reviewed.jsonl"
    summary = export_reviewed(Store(db), lab_dir / "labels.jsonl", out)
    assert summary == {"examples": 80, "reviewed": 4, "changed": summary["changed"]}  # the skip is not a label
    reviewed = [e for e in read_examples(out) if "review" in e.meta]
    by_action = {e.meta["review"]["judgments"][0]["action"]: e for e in reviewed}
    assert set(by_action) == {"accept", "correct"}
    corrected = by_action["correct"]
    assert corrected.answer() == "[Borrower - PERSON]" and corrected.meta["review"]["reviewers"] == ["carol"]
    assert corrected.meta["review"]["judgments"][0]["before"] != "[Borrower - PERSON]"
    assert {e.meta["source_example_id"] for e in reviewed} <= {ex.id for ex in examples}
    assert len(store.judgments()) == 5


def test_xss_payload_is_inert_in_a_real_browser(tmp_path, browser):
    db = tmp_path / "review.db"
    _, tokens = make_store(db, n_items=2, xss_first=True)
    with Server(f"sqlite:///{db}") as srv:
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        sign_in(page, srv.url, tokens["alice"])
        assert XSS in page.inner_text("#example")  # shown as text
        assert page.evaluate("window.__pwned === undefined") and dialogs == []
        assert page.evaluate("document.querySelectorAll('#example script, #votes script, img').length") == 0


def test_chromium_is_debian_package():
    assert shutil.which("chromium") == CHROMIUM or Path(CHROMIUM).exists()
