"""Export the domain task and the general suite as lm-evaluation-harness tasks (YAML + local JSONL data).

A user can then rerun exactly our evaluation with the harness:
``lm_eval --model hf --model_args pretrained=PATH --include_path DIR --tasks tunewright``.
The domain prompts are written already rendered with the model's chat template, so the harness feeds the
model the very text tunewright generated from. The domain metric is computed by ``utils.py`` through
tunewright's own task parser (tunewright must be importable where the harness runs).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tunewright.config import Config
from tunewright.errors import InputError, MissingDependency
from tunewright.evaluation.suites import LETTERS, load_general_paragraphs, load_mmlu
from tunewright.project import atomic_write_text, write_json
from tunewright.records import Example
from tunewright.training.formats import render

UTILS = '''"""Metric hooks for the tunewright domain task (written by tunewright eval --export-harness)."""
import json
from pathlib import Path

from tunewright.config import TaskSection
from tunewright.evaluation.stats import STATISTICS
from tunewright.evaluation.tasks import make_task

TASK = make_task(TaskSection(**json.loads((Path(__file__).parent / "task_config.json").read_text())))


def process_results(doc, results):
    pred, gold = TASK.parse(results[0]), TASK.parse(doc["target"])
    return {TASK.metric: TASK.item_vector({**TASK.item_row(pred, gold), "parsed": pred, "gold_parsed": gold})}


def aggregate(items):
    import numpy as np

    return float(STATISTICS[TASK.statistic](np.asarray(items, dtype=float)))
'''


def _dump(path: Path, obj: dict) -> None:
    text = yaml.safe_dump(obj, sort_keys=False, allow_unicode=True)
    # the harness resolves Python hooks with the !function tag
    text = text.replace("'!function utils.process_results'", "!function utils.process_results")
    text = text.replace("'!function utils.aggregate'", "!function utils.aggregate")
    atomic_write_text(path, text)


def _jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _max_gen_toks(cfg: Config) -> int:
    """task.max_new_tokens, or under 'auto' (no training answers here) the pre-auto default within the cap."""
    from tunewright.evaluation.generate import FALLBACK_MAX_NEW_TOKENS

    mnt = cfg.task.max_new_tokens
    return mnt if isinstance(mnt, int) else min(cfg.task.max_new_tokens_cap, FALLBACK_MAX_NEW_TOKENS)


def export_harness(cfg: Config, tokenizer, test: list[Example], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if cfg.task.max_test_examples is not None:
        test = test[: cfg.task.max_test_examples]
    rows = [{"id": ex.id, "source": ex.source,
             "prompt": render(tokenizer, ex.to_chat(cfg.data.system_prompt)[:-1], add_generation_prompt=True),
             "target": ex.answer()} for ex in test]
    _jsonl(out_dir / "domain_test.jsonl", rows)
    write_json(out_dir / "task_config.json", cfg.task.model_dump(mode="json"))
    atomic_write_text(out_dir / "utils.py", UTILS)
    _dump(out_dir / "tunewright_domain.yaml", {
        "task": "tunewright_domain", "tag": ["tunewright"], "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str((out_dir / "domain_test.jsonl").resolve())}},
        "test_split": "test", "output_type": "generate_until",
        "doc_to_text": "{{prompt}}", "doc_to_target": "{{target}}", "target_delimiter": "",
        "generation_kwargs": {"until": list(cfg.task.stop_strings) or [tokenizer.eos_token],
                              "max_gen_toks": _max_gen_toks(cfg), "do_sample": False},
        "process_results": "!function utils.process_results",
        "metric_list": [{"metric": make_metric_name(cfg), "aggregation": "!function utils.aggregate",
                         "higher_is_better": True}],
    })
    written += [out_dir / "tunewright_domain.yaml", out_dir / "domain_test.jsonl", out_dir / "utils.py"]
    if cfg.general.enabled:
        paras = load_general_paragraphs(cfg.general)
        _jsonl(out_dir / "general_text.jsonl", [{"source": f"{p['file']}:{p['line']}", "text": p["text"]} for p in paras])
        _dump(out_dir / "tunewright_general_perplexity.yaml", {
            "task": "tunewright_general_perplexity", "tag": ["tunewright"], "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str((out_dir / "general_text.jsonl").resolve())}},
            "test_split": "test", "output_type": "loglikelihood_rolling",
            "doc_to_text": "", "doc_to_target": "{{text}}",
            "metric_list": [{"metric": m} for m in ("word_perplexity", "byte_perplexity", "bits_per_byte")],
        })
        written += [out_dir / "tunewright_general_perplexity.yaml", out_dir / "general_text.jsonl"]
        if cfg.general.mmlu_file:
            qs = load_mmlu(cfg.general)
            _jsonl(out_dir / "mmlu.jsonl", [{"source": q["source"], "question": q["question"],
                                             "answer": LETTERS.index(q["answer"])} for q in qs])
            _dump(out_dir / "tunewright_mmlu.yaml", {
                "task": "tunewright_mmlu", "tag": ["tunewright"], "dataset_path": "json",
                "dataset_kwargs": {"data_files": {"test": str((out_dir / "mmlu.jsonl").resolve())}},
                "test_split": "test", "output_type": "multiple_choice",
                "doc_to_text": "{{question}}", "doc_to_choice": LETTERS, "doc_to_target": "{{answer}}",
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            })
            written += [out_dir / "tunewright_mmlu.yaml", out_dir / "mmlu.jsonl"]
    return written


def make_metric_name(cfg: Config) -> str:
    from tunewright.evaluation.tasks import make_task

    return make_task(cfg.task).metric


def run_harness(model_path: str, adapter_dir: Path | None, tasks: list[str], include_path: Path | None,
                limit: int | None, batch_size: int) -> dict:
    """Run lm-evaluation-harness tasks on the base model (or base + adapter) and return their results."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise MissingDependency("'tunewright eval harness' needs lm-evaluation-harness: pip install lm-eval") from None
    import torch

    args = f"pretrained={model_path},dtype=float32"
    if adapter_dir is not None:
        args += f",peft={adapter_dir}"
    manager = TaskManager(include_path=str(include_path) if include_path else None)
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise InputError(f"unknown harness task(s) {unknown}; export ours with 'tunewright eval export-harness' and "
                         "pass its folder with --include")
    res = simple_evaluate(model="hf", model_args=args, tasks=tasks, task_manager=manager, limit=limit,
                          batch_size=batch_size, device="cuda" if torch.cuda.is_available() else "cpu")
    return {name: {k: v for k, v in r.items() if isinstance(v, (int, float)) and "," in k}
            for name, r in res["results"].items()}
