"""Train a tiny random-init Llama on ner_finance chats with the real SmolLM2 tokenizer: the unit of the
training tests (resume, signals, reproducibility, DDP). Runs in-process (``train_tiny``) or as a script, so
a test can kill it, or run it under ``accelerate launch``.

    python tests/tiny_train.py OUT_DIR [--resume] [--set training.max_steps=8 ...]

Writes OUT_DIR/model (adapter or weights) and OUT_DIR/result.json; prints "step N" lines as it trains.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

TINY_DEFAULTS = [
    "training.max_steps=8", "training.batch_size=4", "training.learning_rate=0.01", "training.warmup_ratio=0.0",
    "training.logging_steps=1", "training.max_train_examples=48", "training.save_steps=2", "training.lora_r=4",
    "training.lora_dropout=0.1",  # dropout makes RNG state part of what resume must restore
]



def tiny_study_overrides(model_dir: Path, runs_dir: Path) -> list[str]:
    """A run of the demo task small enough for the studies' tests (tune, select): the tiny model, 160 records,
    the cheap checks, 2 training steps, 8 test items and a small general suite."""
    return [
        f"model.name_or_path={model_dir}", "model.gguf_file=null", f"project.runs_dir={runs_dir}",
        "data.max_records=160", "audit.checks=[schema, exact_duplicate, conflicting_duplicate, token_length]",
        "split.validation_fraction=0.1", "split.test_fraction=0.1",
        "training.max_steps=2", "training.batch_size=4", "training.save_steps=100", "training.warmup_ratio=0",
        "task.max_new_tokens=6", "task.max_test_examples=8",
        "general.perplexity_paragraphs=3", "general.mmlu_questions=4",
    ]


def tiny_llama(vocab_size: int, seed: int = 0, hidden: int = 32, layers: int = 2):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, tie_word_embeddings=True, attn_implementation="sdpa")
    return LlamaForCausalLM(cfg)


def tiny_model_dir(root: Path, tokenizer, seed: int = 0) -> Path:
    """A tiny random-init Llama with the given tokenizer saved as a safetensors folder a config can name."""
    d = Path(root) / "tiny-model"
    tiny_llama(len(tokenizer), seed=seed).save_pretrained(d, safe_serialization=True)
    tokenizer.save_pretrained(d)
    return d


def tiny_examples(n: int = 48):
    from tunewright.assets import resolve_path
    from tunewright.pipeline import load_demo_config
    from tunewright.records import read_files

    cfg = load_demo_config()
    res = read_files([resolve_path(f) for f in cfg.data.train_files], max_records=n)
    return res.examples[:n]


def train_tiny(out: Path, overrides: list[str] = (), resume: bool = False, progress=None):
    from tunewright.config import ModelSection
    from tunewright.models import load_tokenizer, resolve_model
    from tunewright.pipeline import load_demo_config
    from tunewright.project import Run
    from tunewright.training.trainer import train_model

    cfg = load_demo_config(overrides=[*TINY_DEFAULTS, *overrides])
    tok = load_tokenizer(resolve_model(ModelSection()), ModelSection())
    out.mkdir(parents=True, exist_ok=True)
    run = Run(out)
    model = tiny_llama(len(tok), seed=cfg.training.seed)
    return train_model(cfg, run, tiny_examples(), model, tok, resume=resume)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    a = ap.parse_args(argv)
    from tunewright.training.checkpoints import TrainingStopped

    try:
        res = train_tiny(a.out, a.overrides, a.resume)
    except TrainingStopped as e:
        print(f"STOPPED: {e}", flush=True)
        return e.exit_code
    if res.world_size == 1 or _rank() == 0:
        (a.out / "result.json").write_text(json.dumps(res.to_json()))
    return 0


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.exit(main())
