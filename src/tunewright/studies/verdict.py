"""The verdict of ``tunewright select``: the Pareto set on (tuned task metric, serving cost: $/month, then $ per
1M tokens) and the recommendation, stated as a sentence.

The rule: the best candidate is the one with the highest tuned metric. Each other candidate is compared with
it on the same test items (paired bootstrap of candidate - best, joined by example id); one whose interval
reaches zero or above is "not significantly worse". The recommendation is the cheapest to serve among the best
and those not significantly worse: lowest $/month at the traffic, then lowest $ per 1M tokens (the always-on
floor often makes the monthly cost of small models equal), then least memory. The comparisons are not
corrected for multiplicity: with many candidates a real difference is more easily missed, which favours the
cheaper candidate; the sentence gives the interval so a reader can judge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Point:
    name: str
    metric: float  # tuned task metric (higher is better)
    usd_month: float  # serving at the traffic, expected, on the cheapest estimated GPU
    usd_per_million: float  # marginal serving price per 1M tokens there
    memory_bytes: float


@dataclass(frozen=True)
class Paired:
    """candidate - best on the same test items, with its interval."""

    diff: float
    low: float
    high: float
    n: int
    level: float = 0.95

    @property
    def significantly_worse(self) -> bool:
        return self.high < 0


def pareto_set(points: list[Point]) -> list[str]:
    """Names not dominated on (metric: higher, serving cost: lower), equal points both kept. The cost compares
    $/month, then $ per 1M tokens: at low traffic the always-on floor gives small models the same monthly
    cost, and the cheaper per token is then not dominated by a better model at that cost."""
    cost = lambda p: (p.usd_month, p.usd_per_million)  # noqa: E731
    out = []
    for p in points:
        if not any(q.metric >= p.metric and cost(q) <= cost(p) and (q.metric > p.metric or cost(q) < cost(p))
                   for q in points if q is not p):
            out.append(p.name)
    return out


def best_of(points: list[Point]) -> Point:
    """The highest metric; a tie goes to the cheaper."""
    return min(points, key=lambda p: (-p.metric, p.usd_month, p.usd_per_million, p.memory_bytes))


def _cost_key(p: Point):
    return (p.usd_month, p.usd_per_million, p.memory_bytes, -p.metric)


def _usd(x: float) -> str:
    return f"${x:,.0f}" if x >= 100 else f"${x:,.2f}"


def _pair_text(pr: Paired) -> str:
    return f"paired difference {pr.diff:+.3f} ({pr.level:.0%} interval {pr.low:+.3f} to {pr.high:+.3f}, {pr.n} items)"


@dataclass
class Verdict:
    best: str
    recommended: str
    pareto: list[str]
    not_significantly_worse: list[str]
    sentence: str
    bigger_is_better: bool  # the best is recommended although cheaper candidates exist

    def to_json(self) -> dict:
        return asdict(self)


def recommend(points: list[Point], paired: dict[str, Paired], metric: str) -> Verdict:
    """``paired[name]``: that candidate minus the best, for every candidate but the best."""
    by = {p.name: p for p in points}
    best = best_of(points)
    ok = [best.name] + [n for n, pr in paired.items() if n != best.name and not pr.significantly_worse]
    rec = min((by[n] for n in ok), key=_cost_key)
    cheaper = [p for p in points if p.name != best.name and _cost_key(p) < _cost_key(best)]
    m = lambda p: f"{metric} {p.metric:.3f}"  # noqa: E731
    if rec.name != best.name:
        same = " (the same monthly cost at this traffic; " + _usd(rec.usd_per_million) + " vs " + \
            _usd(best.usd_per_million) + " per 1M tokens)" if rec.usd_month == best.usd_month else ""
        sentence = (f"{rec.name} at {_usd(rec.usd_month)}/month is within the interval of {best.name} at "
                    f"{_usd(best.usd_month)}/month{same}: {m(rec)} vs {m(best)}, {_pair_text(paired[rec.name])}. "
                    f"Recommended: {rec.name}.")
    elif cheaper:
        worse = "; ".join(f"{p.name} at {_usd(p.usd_month)}/month: {m(p)}, {_pair_text(paired[p.name])}"
                          for p in sorted(cheaper, key=_cost_key))
        sentence = (f"{best.name} at {_usd(best.usd_month)}/month is really better: every cheaper candidate is "
                    f"significantly worse on the same test items ({worse}). Recommended: {best.name}.")
    else:
        sentence = (f"{best.name} is both the best ({m(best)}) and the cheapest to serve "
                    f"({_usd(best.usd_month)}/month). Recommended: {best.name}.")
    return Verdict(best.name, rec.name, pareto_set(points), ok, sentence, rec.name == best.name and bool(cheaper))
