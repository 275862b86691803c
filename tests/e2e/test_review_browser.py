"""End to end in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright): label demo data,
queue it, sign in, review five items with the keyboard only, and find the judgments in the export."""

import os
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


def shot(page, tmp_path, name):
    """A screenshot per step (under $TW_SCREENSHOTS when set, to look at; else the test's tmp folder)."""
    folder = Path(os.environ.get("TW_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


DRAG_BOX = """name => {
  const ex = document.getElementById('example'), i = ex.textContent.indexOf(name);
  const w = document.createTreeWalker(ex, NodeFilter.SHOW_TEXT), r = document.createRange();
  let n, t = 0, started = false;
  while ((n = w.nextNode())) {
    const L = n.textContent.length;
    if (!started && i < t + L) { r.setStart(n, i - t); started = true; }
    if (started && i + name.length <= t + L) { r.setEnd(n, i + name.length - t); break; }
    t += L;
  }
  const rs = r.getClientRects(), a = rs[0], b = rs[rs.length - 1];
  return [a.left + 2, a.top + a.height / 2, b.right - 2, b.top + b.height / 2];
}"""


def drag_over(page, name):
    x1, y1, x2, y2 = page.evaluate(DRAG_BOX, name)
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move(x2, y2, steps=6)
    page.mouse.up()


def test_pick_spans_by_keyboard_and_mouse(tmp_path, browser):
    db = tmp_path / "review.db"
    store, tokens = make_store(db, n_items=3)
    with Server(f"sqlite:///{db}") as srv:
        page = browser.new_page()
        page.set_viewport_size({"width": 1100, "height": 900})
        sign_in(page, srv.url, tokens["alice"])
        assert "3 of 3 left for you" in page.inner_text("#progress")
        assert page.locator("#example mark.ent").count() == 2  # the suggestion's entities are highlighted
        shot(page, tmp_path, "01-item")
        page.keyboard.press("Backspace")
        page.keyboard.press("Backspace")  # remove both suggested entities by keyboard
        assert page.input_value("#label") == "No entities found" and page.locator(".chip").count() == 0
        # keyboard: e focuses the sentence, the right arrow selects the first word, 1 = PERSON
        page.keyboard.press("e")
        page.keyboard.press("ArrowRight")
        assert page.inner_text("#selection") == "Borrower"
        shot(page, tmp_path, "02-keyboard-selection")
        page.keyboard.press("1")
        assert page.input_value("#label") == "[Borrower - PERSON]"
        # keyboard extend: move to "owes", Shift+Right grows the selection word by word
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Shift+ArrowRight")
        assert page.inner_text("#selection") == "owes Silicon"
        page.keyboard.press("Escape")
        # mouse: drag across three words, 2 = ORGANIZATION
        drag_over(page, "Silicon Valley Bank")
        assert page.inner_text("#selection") == "Silicon Valley Bank"
        shot(page, tmp_path, "03-mouse-selection")
        page.keyboard.press("2")
        # mouse selection of a word with its full stop, typed by clicking the LOCATION button
        drag_over(page, "California.")
        assert page.inner_text("#selection") == "California"  # punctuation trimmed
        page.click("button.type[data-type=LOCATION]")
        assert page.input_value("#label") == ("[Borrower - PERSON, Silicon Valley Bank - ORGANIZATION, "
                                              "California - LOCATION]")
        assert page.locator(".chip").count() == 3 and page.locator("#example mark.ent").count() == 3
        shot(page, tmp_path, "04-three-entities")
        first_text = page.inner_text("#example")
        page.keyboard.press("Enter")
        page.wait_for_function("t => document.querySelector('#example').innerText !== t", arg=first_text)
        assert "2 of 3 left for you" in page.inner_text("#progress")
        (j,) = store.judgments()
        assert (j.action, j.after) == ("correct", "[Borrower - PERSON, Silicon Valley Bank - ORGANIZATION, "
                                                  "California - LOCATION]")
        # a typed junk correction is refused in words and nothing is stored
        page.keyboard.press("c")
        page.keyboard.type("I think maybe [Evil - PERSON] lol")
        page.keyboard.press("Enter")
        page.wait_for_selector("#error")
        assert "text outside the brackets" in page.inner_text("#error")
        shot(page, tmp_path, "05-error-in-words")
        assert len(store.judgments()) == 1
        # undo: u opens the last judgment for revision; a makes the revision "accept"
        page.keyboard.press("Escape")
        page.keyboard.press("u")
        page.wait_for_selector("#notice")
        assert "Revising your judgment" in page.inner_text("#notice")
        shot(page, tmp_path, "06-revise")
        page.keyboard.press("a")
        page.wait_for_selector("#example")
        page.wait_for_function("() => !document.querySelector('#notice')")
        first, second = store.judgments()
        assert second.supersedes == first.id and second.action == "accept" and first.action == "correct"


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
        seen, picked = [], None
        for k in range(5):
            page.wait_for_selector("#example")
            item_text = page.inner_text("#example")
            seen.append(item_text)
            if k == 1:  # correct by keyboard only: clear the chips, select the first word, type 1, Enter
                for _ in range(page.locator(".chip").count()):
                    page.keyboard.press("Backspace")
                page.keyboard.press("e")
                page.keyboard.press("ArrowRight")
                picked = page.inner_text("#selection")
                page.keyboard.press("1")
                shot(page, tmp_path, "real-item-correction")
                page.keyboard.press("Enter")
            elif k == 3:
                page.keyboard.press("s")
            else:
                page.keyboard.press("a")
            page.wait_for_function("t => document.querySelector('#example') === null || "
                                   "document.querySelector('#example').innerText !== t", arg=item_text)
        assert "you judged 5" in page.inner_text("#progress")
        assert "15 of 20 left for you" in page.inner_text("#progress")
    out = tmp_path / "reviewed.jsonl"
    summary = export_reviewed(Store(db), lab_dir / "labels.jsonl", out)
    assert {k: summary[k] for k in ("examples", "reviewed")} == {"examples": 80, "reviewed": 4}  # skip: no label
    reviewed = [e for e in read_examples(out) if "review" in e.meta]
    by_action = {e.meta["review"]["judgments"][0]["action"]: e for e in reviewed}
    assert set(by_action) == {"accept", "correct"}
    corrected = by_action["correct"]
    assert corrected.answer() == f"[{picked} - PERSON]" and corrected.meta["review"]["reviewers"] == ["carol"]
    assert corrected.meta["review"]["judgments"][0]["before"] != corrected.answer()
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
    # the browser tests drive Debian's chromium, not a Playwright download: it must be the one on PATH
    assert shutil.which("chromium") == CHROMIUM
    assert Path(CHROMIUM).resolve().is_file()
