"""Read an export back and score it on the run's test split, against the tuned model's own number.

An export counts only after the loader a user would use has read it and the task metric came out the same:
plain transformers for a merged folder, peft for an adapter, transformers' ``gguf_file=`` loader (the path
tunewright uses for its own GGUF inputs) for a GGUF file. Tolerances:

- f32 / f16 / bf16 weights (merged, adapter, GGUF f16 and bf16): inside the tuned metric's bootstrap interval;
- q8_0: within 0.5 points (0.005 on a 0-1 metric) of the tuned value or inside the interval, whichever band is
  wider.

Beside the metric, ``agreement`` is the share of test items whose output is identical to the tuned run's
saved prediction: greedy decoding of float-identical weights gives 1.0; rounding moves a few items.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tunewright.config import Config
from tunewright.evaluation.evaluate import eval_items, predict_rows, read_predictions, recorded_decoding
from tunewright.evaluation.stats import STATISTICS, bootstrap_ci
from tunewright.evaluation.tasks import make_task
from tunewright.project import Run
from tunewright.records import read_examples
from tunewright.errors import GateFailed

QUANT_POINTS = 0.005  # 0.5 points on a 0-1 metric


class ExportVerificationFailed(GateFailed):
    """An export that, read back, does not score like the tuned model (exit code 1, like a failed gate)."""


@dataclass
class Verification:
    artifact: str  # what was read: a folder or a file inside the export
    weights: str  # f32, f16, bf16, q8_0
    loader: str  # how it was read back
    metric: str
    value: float
    tuned: float
    tuned_low: float
    tuned_high: float
    allowed_low: float
    allowed_high: float
    passed: bool
    agreement: float  # share of items with the same output as the tuned run
    n: int
    seconds: float

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def tuned_reference(cfg: Config, run: Run) -> tuple[list[dict], float, float, float]:
    """The tuned run's saved predictions, its metric and the metric's bootstrap interval."""
    path = run.eval_dir / "tuned" / "predictions.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing; an export is verified against the tuned evaluation, run "
                                "'tunewright eval --run RUN --model tuned' first")
    task = make_task(cfg.task)
    rows = read_predictions(path)
    items = np.array([task.item_vector(r) for r in rows], float)
    s = cfg.stats
    ci = bootstrap_ci(items, STATISTICS[task.statistic], n_boot=s.bootstrap_samples, level=s.confidence, seed=s.seed)
    return rows, ci.value, ci.low, ci.high


def allowed_band(weights: str, tuned: float, low: float, high: float) -> tuple[float, float]:
    if weights == "q8_0":
        return min(low, tuned - QUANT_POINTS), max(high, tuned + QUANT_POINTS)
    return low, high


def verify_loaded(cfg: Config, run: Run, model, tokenizer, artifact: str, weights: str, loader: str) -> Verification:
    """Score a loaded export on the test items the tuned evaluation scored, and compare."""
    t0 = time.perf_counter()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    task = make_task(cfg.task)
    ref_rows, tuned, low, high = tuned_reference(cfg, run)
    test = eval_items(cfg, read_examples(run.data_dir / "test.jsonl"))
    rows = predict_rows(cfg, model, tokenizer, test, f"verify {Path(artifact).name}",
                        recorded_decoding(cfg, run, tokenizer))
    if [r["id"] for r in rows] != [r["id"] for r in ref_rows]:
        raise ValueError(f"{run.eval_dir / 'tuned'}: the tuned predictions are not for the current test split")
    value = task.score(rows)[task.metric]
    lo, hi = allowed_band(weights, tuned, low, high)
    same = sum(a.get("output") == b.get("output") for a, b in zip(rows, ref_rows)) / len(rows)
    return Verification(artifact, weights, loader, task.metric, float(value), tuned, low, high, lo, hi,
                        bool(lo - 1e-12 <= value <= hi + 1e-12), same, len(rows), round(time.perf_counter() - t0, 1))


def verify_merged(cfg: Config, run: Run, folder: Path) -> Verification:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, dtype="auto",
                                                 trust_remote_code=cfg.model.trust_remote_code).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    return verify_loaded(cfg, run, model, tok, str(folder), "f32", "transformers AutoModelForCausalLM")


def verify_adapter(cfg: Config, run: Run, folder: Path, base_path: str) -> Verification:
    """The adapter on the base through peft, unmerged (the way vLLM and the endpoint serve it)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_path, use_safetensors=True,
                                                trust_remote_code=cfg.model.trust_remote_code)
    model = PeftModel.from_pretrained(base, str(folder)).eval()
    tok = AutoTokenizer.from_pretrained(folder if (Path(folder) / "tokenizer_config.json").exists() else base_path)
    return verify_loaded(cfg, run, model, tok, str(folder), "f32", "peft PeftModel.from_pretrained")


def verify_gguf(cfg: Config, run: Run, gguf_path: Path, weights: str) -> Verification:
    """The GGUF file through transformers' gguf loader: weights dequantized to float32, and the tokenizer and
    chat template rebuilt from the file's own metadata (so a broken tokenizer export fails here too)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if not tok.chat_template:
        raise ExportVerificationFailed(f"{gguf_path}: no chat template in the file's metadata")
    return verify_loaded(cfg, run, model, tok, str(gguf_path), weights, "transformers from_pretrained(gguf_file=)")
