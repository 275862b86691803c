"""Study settings: the tuning search space and budget.

Part of ``tunewright.yaml`` (tunewright/config.py assembles the sections); each stage owns its settings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from tunewright.section import Section


class SearchDim(Section):
    """One searchable config value: a float or int range (``low``/``high``, ``log`` scale) or ``choices``."""

    low: float | None = Field(None, description="Lower end of a numeric range.")
    high: float | None = Field(None, description="Upper end of a numeric range.")
    log: bool = Field(False, description="Sample the range on a log scale (learning rates).")
    integer: bool = Field(False, description="An integer range.")
    choices: list[Any] | None = Field(None, description="A categorical dimension: one of these values.")

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("give either choices or both low and high")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"needs low < high, got {self.low} and {self.high}")
        if self.log and self.low is not None and self.low <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return self


def _default_space() -> dict[str, SearchDim]:
    return {
        "training.learning_rate": SearchDim(low=3e-5, high=2e-3, log=True),
        "training.lora_r": SearchDim(choices=[8, 16, 32]),
        "training.lora_dropout": SearchDim(choices=[0.0, 0.05]),
        "training.ewc_lambda": SearchDim(choices=[0.0, 0.005, 0.02, 0.1]),
        "training.replay_fraction": SearchDim(choices=[0.0, 0.1]),
    }


class TuningSection(Section):
    space: dict[str, SearchDim] = Field(
        default_factory=_default_space,
        description="Dotted config keys to search and their ranges. Default: learning rate (log scale), LoRA rank, "
        "dropout, and the mitigation knobs ewc_lambda and replay_fraction beside them. Add e.g. "
        "training.max_steps, training.lora_alpha, training.target_modules, training.method, training.l2sp_lambda.")
    trials: int = Field(12, ge=1, description="Trials (sub-runs) in the study, before the re-runs of the top ones.")
    max_hours: float | None = Field(None, gt=0, description="Stop starting trials after this many hours.")
    max_cost_usd: float | None = Field(None, gt=0, description="Stop starting trials when the trials' estimated "
                                       "GPU cost (cost module, at cost.gpu) passes this.")
    sampler: Literal["tpe", "nsga2", "gp", "grid"] = Field("tpe", description="Optuna sampler of the multi-objective "
                                                           "study; 'grid' tries every combination of the choices "
                                                           "(set tuning.trials to their count).")
    seed: int = Field(0, description="Seed of the sampler.")
    start_from_mitigation_arms: bool = Field(True, description="A fresh study's first trials are the default "
                                             "configuration and then each arm of training.mitigation_arms applied "
                                             "to it (where the space holds the keys it sets), so the study scores "
                                             "what auto-mitigation would try before it samples.")
    n_startup_trials: int | None = Field(None, ge=0, description="TPE: trials sampled at random before the model "
                                         "of good and bad settings is used (the enqueued trials, the default "
                                         "configuration and the mitigation arms, count). Null: Optuna's default, "
                                         "10, so a study of up to 10 trials is a random search. On benchmarks/tuning "
                                         "(one task, 2026-12-03) 3 raised the mean hypervolume ratio by 0.040 "
                                         "[0.007, 0.072] over 10; the default waits for a second task.")
    storage: str | None = Field(None, description="Optuna storage URL; default a JournalStorage file in the run "
                                "(tuning/journal.log; safe for several processes on one machine). A "
                                "postgresql+psycopg:// URL lets workers on many machines join one study.")
    rerun_top: int = Field(2, ge=0, description="Re-run this many of the best trials with other seeds, so a "
                           "seed's luck is not taken for a better setting; the choice uses the seed mean.")
    rerun_seeds: list[int] = Field(default_factory=lambda: [1], description="Training seeds of those re-runs.")
    general_paragraphs: int = Field(20, ge=1, description="Perplexity paragraphs per file of the tuning slice of "
                                    "the general suite (after the final evaluation's, so disjoint from it).")
    general_mmlu: int = Field(40, ge=1, description="MMLU questions of the tuning slice (after the final ones).")
    max_validation_examples: int | None = Field(None, ge=1, description="Score trials on at most this many "
                                                "validation examples.")
    rungs: list[float] = Field(default_factory=lambda: [0.5], description="Pruning: shares of training.max_steps "
                               "at which a trial is scored and compared with its peers at the same point (successive "
                               "halving on the Pareto front of task metric and forgetting); [] disables pruning. On "
                               "benchmarks/tuning (one task, 2026-12-03) pruning at half the steps lowered the mean "
                               "hypervolume ratio by 0.035 [0.024, 0.049] at the same compute (the score at the rung "
                               "did not predict the final one); the default waits for a second task.")
    keep_fraction: float = Field(0.5, gt=0, le=1, description="Pruning: at each rung keep the trials in the best "
                                 "Pareto layers that hold this share of the peers; the rest stop there.")
    min_peers: int = Field(3, ge=1, description="Pruning: a rung prunes only once this many trials have reached it.")
    heartbeat_seconds: int = Field(60, ge=1, description="PostgreSQL storage: a worker's heartbeat; a trial whose "
                                   "worker is silent for 3 beats is failed and re-run by the next worker.")
