"""The near-duplicate engine against brute force: shingle sets, exact Jaccard, the MinHash estimator, LSH
parameters (datasketch's), and planted near-duplicates found with recall >= 0.95 and precision 1."""

import random

import numpy as np
import pytest

from tunewright.data.neardup import NearDupParams, choose_kept, find_near_duplicates
from tunewright.data.minhash import MinHasher, Shingler, exact_jaccard, optimal_bands, words
from tunewright.data.normalize import normalize_text


def string_shingles(text: str, n: int = 5) -> set[str]:
    w = text.split()
    if len(w) < n:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def brute_force_pairs(texts: list[str], t: float) -> dict[tuple[int, int], float]:
    sets = [string_shingles(x) for x in texts]
    out = {}
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            if sets[i] and sets[j]:
                jac = len(sets[i] & sets[j]) / len(sets[i] | sets[j])
                if jac >= t:
                    out[(i, j)] = jac
    return out


def planted_corpus(n_base: int, n_var: int, seed: int = 0) -> list[str]:
    """Random-word texts (3-150 words) plus variants with a few substituted words."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)] + ["straße", "ﬁnal", "日本語", "café"]
    base = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 150))) for _ in range(n_base)]
    texts = list(base)
    for k in range(n_var):
        ws = base[k % n_base].split()
        for _ in range(rng.randint(0, max(1, len(ws) // 25))):
            ws[rng.randrange(len(ws))] = rng.choice(vocab)
        texts.append(" ".join(ws))
    return [normalize_text(t) for t in texts]


def test_shingle_sets_equal_python_string_shingles():
    texts = ["", "one", "a b c d", "a b c d e", "a  b\nc d e f", "a b c d e a b c d e", "ｆｕｌｌ width ＡＢＣ x y z",
             "straße café 日本語 ﬁnal word here", *planted_corpus(50, 20)]
    texts = [normalize_text(t) for t in texts]
    sh = Shingler(5).shingles(texts)
    sets = [string_shingles(t) for t in texts]
    assert sh.sizes().tolist() == [len(s) for s in sets]
    assert [len(words(t)) for t in texts] == [len(t.split()) for t in texts]
    pairs = np.array([(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))])
    got = exact_jaccard(sh, pairs)
    want = [len(sets[i] & sets[j]) / len(sets[i] | sets[j]) if sets[i] | sets[j] else 0.0 for i, j in pairs]
    np.testing.assert_allclose(got, want)


def test_minhash_estimate_is_unbiased_with_the_ideal_standard_error():
    texts = planted_corpus(600, 600, seed=1)
    sh = Shingler(5).shingles(texts)
    sig = MinHasher(128).signatures(sh)  # (P, R)
    pairs = np.array([(k, 600 + k) for k in range(600)])
    true = exact_jaccard(sh, pairs)
    est = (sig[:, pairs[:, 0]] == sig[:, pairs[:, 1]]).mean(axis=0)
    ideal = np.sqrt(np.mean(true * (1 - true) / 128))
    assert abs(np.mean(est - true)) < 0.005  # unbiased
    assert np.sqrt(np.mean((est - true) ** 2)) < 1.2 * ideal  # as accurate as truly random permutations


@pytest.mark.parametrize("t,weights", [(0.8, (0.5, 0.5)), (0.5, (0.5, 0.5)), (0.9, (0.3, 0.7)), (0.8, (0.05, 0.95))])
def test_lsh_parameters_match_datasketch(t, weights):
    from datasketch.lsh import _optimal_param

    assert optimal_bands(t, 128, *weights) == _optimal_param(t, 128, *weights)


def test_planted_near_duplicates_found_with_high_recall_and_full_precision():
    texts = planted_corpus(250, 200, seed=2)
    truth = brute_force_pairs(texts, 0.8)
    assert len(truth) > 100  # the plan produces plenty of positives
    res = find_near_duplicates(texts, NearDupParams(threshold=0.8, short_words=0))  # truth: word 5-grams
    found = {tuple(p) for p in res.pairs.tolist()}
    recall = len(found & truth.keys()) / len(truth)
    precision = len(found & truth.keys()) / len(found)
    assert recall >= 0.95 and precision == 1.0
    for (i, j), jac in zip(res.pairs.tolist(), res.jaccard.tolist()):
        assert jac == pytest.approx(truth[(i, j)])
    # clusters are the connected components of the confirmed pairs
    for i, j in found:
        assert res.labels[i] == res.labels[j]
    assert res.bands * res.rows <= 128 and (res.bands, res.rows) == (16, 8)


def test_negatives_and_empty_texts_are_never_paired():
    texts = ["", "", "x y z w v u", "a b c d e f g h", "", "q r s t u v w x y"]
    res = find_near_duplicates(texts)
    assert len(res.pairs) == 0 and len(set(res.labels.tolist())) == len(texts)


def test_keep_rules():
    members = np.array([4, 2, 7])
    lengths = np.array([0, 0, 30, 0, 10, 0, 0, 30])
    assert choose_kept(members, lengths, "first") == 2
    assert choose_kept(members, lengths, "longest") == 2  # ties go to the first
    assert choose_kept(members, lengths, "shortest") == 4


def test_benchmark_ground_truth_is_the_brute_force_answer():
    """benchmarks/data_audit/truth.py (prefix-filtered all-pairs join) finds exactly the brute-force pairs."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks" / "data_audit"))
    from truth import all_pairs_above

    texts = planted_corpus(200, 150, seed=3) + ["", "a b", "a b"]
    for t in (0.5, 0.8):
        pairs, jac = all_pairs_above(Shingler(5).shingles(texts), t)
        want = brute_force_pairs(texts, t)
        assert {tuple(p) for p in pairs.tolist()} == set(want)
        assert np.allclose(jac, [want[tuple(p)] for p in pairs.tolist()])


SENTENCES = [  # short real-looking sentences: unrelated ones share boilerplate ("the borrower shall")
    "the borrower shall deliver audited financial statements to the agent within ninety days",
    "the borrower shall maintain insurance with responsible companies in customary amounts",
    "each lender may assign all or a portion of its rights under this agreement",
    "interest on the term loan is payable monthly in arrears on the first business day",
    "section 7 . 2 indemnification of the agent and the lenders .",
]


def test_short_inputs_within_two_word_edits_are_near_duplicates():
    """Short inputs (6-49 words): one and two word edits join from 8 words on; three edits and unrelated
    sentences that share boilerplate do not; 6-7 word inputs allow one edit. Both signals are blind to word
    order beyond the n-grams, so halves swapped still join (the benchmark's edit-distance truth says no)."""
    w = SENTENCES[0].split()  # 13 words
    one = " ".join(w[:3] + ["provide"] + w[4:])  # deliver -> provide
    two = " ".join(w[:3] + ["promptly", "provide"] + w[4:])  # and one insertion
    three = " ".join(w[:4] + ["certified"] + w[5:9] + ["lender", "within", "sixty", "days"])  # 3 substitutions
    swapped = " ".join(w[6:] + w[:6])
    six = ["pay the fee of 12 dollars", "pay the fee of 13 dollars", "pay the tax of 14 dollars"]
    texts = SENTENCES + [one, two, three, swapped] + six
    n = len(SENTENCES)
    res = find_near_duplicates(texts, NearDupParams())
    assert {tuple(p) for p in res.pairs.tolist()} == {(0, n), (0, n + 1), (n, n + 1), (0, n + 3), (n, n + 3),
                                                     (n + 1, n + 3), (n + 4, n + 5)}
    assert NearDupParams().families()[1].edit_budget() == 20  # 2 edits x (6 bytes + 5 - 1)
    # the previous rule (character Jaccard >= 0.7 alone) misses the two-edit pair of this 13-word sentence
    old = find_near_duplicates(texts, NearDupParams(short_edit_words=0, short_threshold=0.7))
    assert (0, n + 1) not in {tuple(p) for p in old.pairs.tolist()}


def test_reference_index_confirms_short_pairs_like_the_engine():
    from tunewright.data.neardup import ReferenceIndex

    w = SENTENCES[3].split()
    streamed = [" ".join(w[:2] + ["at"] + w[3:]), " ".join(w[:2] + ["at"] + w[3:-2] + ["last", "day"]),
                " ".join(w[:5]), SENTENCES[1]]
    best, jac = ReferenceIndex(SENTENCES, NearDupParams()).best_matches(streamed)
    res = find_near_duplicates(SENTENCES + streamed, NearDupParams())
    n = len(SENTENCES)
    engine = {j - n: i for i, j in res.pairs.tolist() if i < n <= j}
    assert best.tolist() == [engine.get(k, -1) for k in range(len(streamed))] == [3, 3, -1, 1]
    assert jac[0] > jac[1] > 0 and jac[2] == 0
