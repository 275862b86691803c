"""The training stage: LoRA through peft on a transformers ``Trainer``.

tunewright writes no training loop of its own: the Trainer (and so ``accelerate launch``) runs it. We add
the data-to-token step with completion-only labels, length-grouped batches, seeding, a callback that logs the
loss curve into the run's ``metrics.jsonl``, and an atomic adapter save (safetensors).
"""

from __future__ import annotations

import inspect
import shutil
import time
from dataclasses import asdict, dataclass

import torch

from tunewright.config import Config
from tunewright.project import Run
from tunewright.records import Example
from tunewright.training.formats import EncodedSet, PadCollator, encode_examples
from tunewright.training.methods import apply_method, count_parameters
from tunewright.training.mitigation import replay_rows


@dataclass
class TrainResult:
    method: str
    trainable_params: int
    total_params: int
    train_examples: int
    replay_examples: int
    train_tokens: int  # real (non-pad) tokens processed, all epochs
    padded_tokens: int  # tokens computed on, pad included
    trained_tokens: int  # tokens that carried a label, all epochs
    truncated_examples: int
    dropped_examples: int
    steps: int
    seconds: float
    tokens_per_second: float
    final_loss: float | None
    peak_memory_bytes: int | None
    loss_curve: list[dict]

    def to_json(self) -> dict:
        return asdict(self)


class CountingCollator(PadCollator):
    """Pads like PadCollator and counts the real tokens it hands to the model (throughput without pad)."""

    def __init__(self, pad_token_id: int):
        super().__init__(pad_token_id)
        self.tokens = 0
        self.trained_tokens = 0
        self.padded_tokens = 0  # tokens the model computed on, pad included

    def __call__(self, batch):
        out = super().__call__(batch)
        self.padded_tokens += out["input_ids"].numel()
        self.tokens += int(out["attention_mask"].sum())
        self.trained_tokens += int((out["labels"] != -100).sum())
        return out


def _precision_flags(precision: str) -> dict:
    cuda = torch.cuda.is_available()
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision in ("bf16", "fp16") and not cuda:
        raise ValueError(f"training.precision={precision} needs a CUDA GPU; on CPU use fp32 (bf16 is ~40x slower here)")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def _loss_logger(run: Run, curve: list[dict]):
    from transformers import TrainerCallback

    class LossLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                row = {"stage": "train", "step": state.global_step, "epoch": round(state.epoch or 0, 4),
                       "loss": float(logs["loss"]), "learning_rate": float(logs.get("learning_rate", 0.0))}
                curve.append(row)
                run.log_metric(row)

    return LossLogger()


def chats(examples: list[Example], cfg: Config) -> list[list[dict[str, str]]]:
    return [ex.to_chat(cfg.data.system_prompt) for ex in examples]


def train_model(cfg: Config, run: Run, train: list[Example], model, tokenizer) -> TrainResult:
    """Fine-tune ``model`` on ``train`` and save the adapter into ``run.model_dir``."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments, set_seed

    tc = cfg.training
    set_seed(tc.seed)
    if tc.max_train_examples is not None:
        train = train[: tc.max_train_examples]
    enc: EncodedSet = encode_examples(tokenizer, chats(train, cfg), tc.max_seq_tokens)
    if not enc.rows:
        raise ValueError("training split is empty after encoding; nothing to train on")
    replay = replay_rows(cfg, tokenizer, len(enc.rows))
    ds = Dataset.from_list(enc.rows + replay)

    model.train()
    model.config.use_cache = False
    peft_model = apply_method(model, tc)
    trainable, total = count_parameters(peft_model)

    ckpt_dir = run.path / "checkpoints"
    kwargs = dict(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=tc.batch_size,
        gradient_accumulation_steps=tc.gradient_accumulation_steps,
        learning_rate=tc.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=tc.warmup_ratio,
        weight_decay=tc.weight_decay,
        num_train_epochs=tc.epochs,
        max_steps=tc.max_steps,
        logging_steps=tc.logging_steps,
        save_strategy="no",
        report_to="none",
        seed=tc.seed,
        data_seed=tc.seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        optim="adamw_torch",
        **_precision_flags(tc.precision),
    )
    if "train_sampling_strategy" in inspect.signature(TrainingArguments.__init__).parameters:
        kwargs["train_sampling_strategy"] = tc.sampling
    else:  # transformers 4.x
        kwargs["group_by_length"] = tc.sampling == "group_by_length"
    args = TrainingArguments(**kwargs)
    collator = CountingCollator(tokenizer.pad_token_id)
    curve: list[dict] = []
    trainer = Trainer(model=peft_model, args=args, train_dataset=ds, data_collator=collator,
                      callbacks=[_loss_logger(run, curve)])
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None

    tmp = run.path / ".model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    peft_model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(run.model_dir, ignore_errors=True)
    tmp.rename(run.model_dir)
    shutil.rmtree(ckpt_dir, ignore_errors=True)

    return TrainResult(
        method=tc.method, trainable_params=trainable, total_params=total, train_examples=len(enc.rows),
        replay_examples=len(replay),
        train_tokens=collator.tokens, padded_tokens=collator.padded_tokens, trained_tokens=collator.trained_tokens,
        truncated_examples=enc.truncated, dropped_examples=enc.dropped, steps=out.global_step,
        seconds=round(seconds, 2), tokens_per_second=round(collator.tokens / seconds, 1) if seconds else 0.0,
        final_loss=curve[-1]["loss"] if curve else float(out.training_loss), peak_memory_bytes=peak,
        loss_curve=curve,
    )
