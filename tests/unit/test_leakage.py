"""Leakage (train vs test files) and 13-gram contamination with evaluation text, with planted positives and
negatives; and a split that never lets a near-duplicate cluster straddle two splits."""

import json
import random

from helpers import chat, write_lines
from tunewright.config import SplitSection, load_config
from tunewright.data.audit import audit_data
from tunewright.data.neardup import NearDupParams, find_near_duplicates
from tunewright.data.keys import normalized_input
from tunewright.data.split import split_examples
from tunewright.records import Example


def sentences(n: int, seed: int, words: int = 40) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(5000)]
    return [" ".join(rng.choice(vocab) for _ in range(words)) for _ in range(n)]


def edited(s: str) -> str:
    ws = s.split()
    ws[-1] = "edited"
    return " ".join(ws)


def run_audit(tmp_path, train_rows, test_rows, general_lines, *overrides):
    train = write_lines(tmp_path / "train.jsonl", train_rows)
    test = write_lines(tmp_path / "test.jsonl", test_rows)
    gen = write_lines(tmp_path / "general.jsonl", [{"0": t} for t in general_lines])
    cfg = load_config(None, [f"data.train_files=[{train}]", f"data.test_files=[{test}]", "data.system_prompt=null",
                             "audit.min_usable_fraction=0", "audit.checks=[leakage]", f"general.text_files=[{gen}]",
                             "general.mmlu_file=null", "general.reserved_eval_lines=5",
                             "general.perplexity_paragraphs=5", *overrides])
    return audit_data(cfg, tmp_path / "out")


def test_leakage_and_contamination_precision_recall(tmp_path):
    s = sentences(120, seed=5)
    test_inputs = s[:40]
    general = sentences(8, seed=6, words=30)
    train, want = [], {"leakage_exact": set(), "leakage_near": set(), "contamination_13gram": set()}
    for k in range(10):  # exact copies of test inputs (answers may differ: still leakage)
        train.append(chat(test_inputs[k].upper(), "a"))
        want["leakage_exact"].add(len(train))
    for k in range(10, 20):  # one word changed: Jaccard 35/37 to a test input
        train.append(chat(edited(test_inputs[k]), "a"))
        want["leakage_near"].add(len(train))
    for k in range(5):  # a 15-word quote of the reserved general text inside a new sentence
        quote = " ".join(general[k].split()[5:20])
        train.append(chat(f"{s[60 + k]} {quote}", "a"))
        want["contamination_13gram"].add(len(train))
    train.append(chat(f"{s[70]} {' '.join(general[6].split()[:12])}", "a"))  # 12 words: below 13, a negative
    train.append(chat(f"{s[71]} {' '.join(general[7].split()[:20])}", "a"))  # line 8 is not reserved: negative
    for k in range(80, 120):  # unrelated
        train.append(chat(s[k], "a"))
    res = run_audit(tmp_path, train, [chat(t, "b") for t in test_inputs], general)
    got = {r: set() for r in want}
    for row in res.quarantine:
        if "split" not in row:
            for r in row["reasons"]:
                got[r].add(int(row["source"].rsplit(":", 1)[1]))
    for reason in want:
        tp = len(got[reason] & want[reason])
        assert tp / len(want[reason]) >= 0.95, reason  # recall
        assert tp / max(len(got[reason]), 1) >= 0.98, reason  # precision
    lk = res.summary["leakage"]
    assert (lk["exact"], lk["near"], lk["contaminated"]) == (10, 10, 5)
    assert lk["contaminated_by"] == {"general_text": 5} and lk["eval_items"] == {"domain_test": 40, "general_text": 5}
    row = next(r for r in res.quarantine if "leakage_exact" in r["reasons"])
    assert "test.jsonl:" in row["details"][0]


def test_leakage_can_be_reported_without_dropping(tmp_path):
    s = sentences(3, seed=7)
    res = run_audit(tmp_path, [chat(s[0], "a"), chat(s[1], "a")], [chat(s[0], "b")], [s[2]],
                    "audit.leakage.drop=false")
    assert res.summary["quarantined"] == 0 and res.summary["leakage"]["exact"] == 1


def test_near_duplicate_clusters_never_straddle_splits():
    rng = random.Random(8)
    base = sentences(150, seed=9)
    exs = []
    for k, t in enumerate(base):
        for v in range(rng.randint(1, 3)):  # clusters of 1-3 near-identical inputs
            exs.append(Example(messages=[{"role": "user", "content": edited(t) if v else t},
                                         {"role": "assistant", "content": f"x{k}"}], source=f"f:{k}.{v}"))
    r = split_examples(exs, SplitSection(seed=3, test_fraction=0.2, validation_fraction=0.1))
    assert sum(r.counts().values()) == len(exs)
    where = {e.source: name for name in ("train", "validation", "test") for e in getattr(r, name)}
    texts = [normalized_input(e) for e in exs]
    res = find_near_duplicates(texts, NearDupParams())
    assert len(res.pairs) >= 100  # the clusters are really there
    for i, j in res.pairs.tolist():
        assert where[exs[i].source] == where[exs[j].source]
    # exact-input grouping alone would split them: the test above is not vacuous
    r0 = split_examples(exs, SplitSection(seed=3, test_fraction=0.2, validation_fraction=0.1), near_duplicates=None)
    where0 = {e.source: name for name in ("train", "validation", "test") for e in getattr(r0, name)}
    assert any(where0[exs[i].source] != where0[exs[j].source] for i, j in res.pairs.tolist())


def test_audit_json_has_leakage_counts(tmp_path):
    s = sentences(2, seed=10)
    run_audit(tmp_path, [chat(s[0], "a")], [chat(s[1], "b")], [s[1]])
    summary = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert summary["leakage"]["test_examples"] == 1 and summary["leakage"]["contamination_ngram"] == 13


def test_replay_pool_overlap_with_general_eval_text_is_counted(tmp_path):
    s = sentences(12, seed=11, words=30)
    general = s[:5] + [s[0], s[6], s[1] + " and more", s[8]]  # lines 6 and 8 repeat reserved eval text
    res = run_audit(tmp_path, [chat(s[10], "a")], [chat(s[11], "b")], general, "training.replay_fraction=0.2")
    lk = res.summary["leakage"]
    assert (lk["replay_pool"], lk["replay_overlapping_eval"]) == (4, 2)
