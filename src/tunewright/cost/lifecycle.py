"""The whole project's cost, by category, every figure a range.

    data acquisition     as configured
    labeling, manual     items x (1 - programmatic share) x overlap x seconds/item / 3600 x hourly rate
    labeling, review     items x programmatic share x review share x seconds/item / 3600 x hourly rate
    training runs        iterations x one run (hours x GPUs x price)
    HP trials            iterations x trials x one run
    evaluation           (iterations + retrainings) x eval GPU-hours x price
    retraining           retrainings x one run
    people               sum over roles of days x day rate
    serving              months x monthly serving cost (tunewright.cost.pricing.serving_cost)
    contingency          share x everything above

Ranges add corner to corner (all lows, all highs): the total's range is the optimistic and pessimistic
corner, wider than a probabilistic interval would be, on purpose: a budget should survive it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tunewright.cost.hardware import GPU
from tunewright.cost.pricing import ZERO, Serving, Span, price_per_hour, serving_cost
from tunewright.cost.settings import CostSection


@dataclass
class Lifecycle:
    categories: dict[str, Span]  # USD
    total: Span
    gpu_hours: Span  # training, trials, evaluation, retraining
    serving: Serving | None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"categories_usd": {k: v.to_json() for k, v in self.categories.items()},
                "total_usd": self.total.to_json(), "gpu_hours": self.gpu_hours.to_json(),
                "serving": self.serving.to_json() if self.serving else None, "notes": self.notes}


def labeling_cost(c: CostSection) -> tuple[Span, Span]:
    lab = c.labeling
    per_item = Span.of(lab.seconds_per_item) * Span.of(lab.hourly_rate_usd) * (1 / 3600)
    manual = per_item * (lab.items * (1 - lab.programmatic_share) * lab.overlap)
    review = per_item * (lab.items * lab.programmatic_share * lab.review_share)
    return manual, review


def lifecycle_cost(c: CostSection, run_hours: Span, n_gpus: int, train_gpu: GPU, serving_gpu: GPU,
                   n_params: int) -> Lifecycle:
    price = price_per_hour(train_gpu)
    run_usd = run_hours * n_gpus * price
    manual, review = labeling_cost(c)
    eval_rounds = c.iterations + c.retrainings
    people = ZERO
    for r in c.people:
        people = people + Span.of(r.days) * Span.of(r.day_rate_usd)
    serving = None
    serving_usd = ZERO
    if c.serving.requests_per_month and c.serving.months:
        s = c.serving
        serving = serving_cost(n_params, serving_gpu, s.requests_per_month, s.prompt_tokens, s.answer_tokens,
                               s.concurrent_sequences, s.utilization, s.always_on)
        serving_usd = serving.usd_per_month * s.months
    cats = {
        "data acquisition": Span.of(c.data_acquisition_usd),
        "labeling: manual": manual,
        "labeling: review of programmatic labels": review,
        "compute: training runs": run_usd * c.iterations,
        "compute: hyperparameter trials": run_usd * (c.iterations * c.hp_trials),
        "compute: evaluation": Span.of(c.eval_gpu_hours) * price * eval_rounds,
        "compute: retraining": run_usd * c.retrainings,
        "people": people,
        "serving": serving_usd,
    }
    subtotal = ZERO
    for v in cats.values():
        subtotal = subtotal + v
    cats["contingency"] = subtotal * Span.of(c.contingency)
    gpu_hours = run_hours * n_gpus * (c.iterations * (1 + c.hp_trials) + c.retrainings) \
        + Span.of(c.eval_gpu_hours) * eval_rounds
    notes = []
    if not c.serving.requests_per_month:
        notes.append("serving not budgeted (cost.serving.requests_per_month is 0)")
    if not c.labeling.items:
        notes.append("no labeling budgeted (cost.labeling.items is 0: the data is taken as labelled)")
    return Lifecycle(cats, subtotal + cats["contingency"], gpu_hours, serving, notes)
