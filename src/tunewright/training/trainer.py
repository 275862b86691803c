"""The training stage: LoRA / DoRA / QLoRA / full fine-tuning on a transformers ``Trainer``.

tunewright writes no training loop of its own: the Trainer (and so ``accelerate launch``: DDP, FSDP,
DeepSpeed) runs it. We add the data-to-token step with completion-only labels, packed padding-free batches
with logits only on answer positions (training/packing.py), forgetting penalties (EWC, L2-SP), resumable
checkpoints with clean stops on signals and on a non-finite loss (training/checkpoints.py), a callback that
logs the loss curve into the run's ``metrics.jsonl``, and an atomic save of the adapter or the weights
(safetensors only).
"""

from __future__ import annotations

import inspect
import resource
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from tunewright.config import Config
from tunewright.project import Run
from tunewright.records import Example
from tunewright.tracking import apply_training_env
from tunewright.training.formats import EncodedSet, PadCollator, encode_examples
from tunewright.training.checkpoints import (
    NonFiniteLoss, TrainingStopped, checkpoint_callback, finite_gradients_callback, latest_checkpoint, read_counters, signal_callback,
)
from tunewright.errors import InputError
from tunewright.training.methods import apply_method, check_method_available, count_parameters
from tunewright.training.mitigation import penalties as make_penalties
from tunewright.training.mitigation import replay_rows
from tunewright.training.packing import (
    VARLEN_ATTENTION, PackedCollator, SelectivePadCollator, packing_is_exact, register_varlen_attention,
    supports_selective_logits,
)


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
    peak_memory_bytes: int | None  # GPU: torch.cuda.max_memory_allocated; CPU: None (see peak_rss_bytes)
    loss_curve: list[dict]
    packing: bool = False
    packing_note: str = ""
    selective_logits: bool = False
    penalties: list[str] = field(default_factory=list)
    resumed_from: str | None = None
    peak_rss_bytes: int | None = None  # process peak resident memory (CPU runs; whole process lifetime)
    world_size: int = 1
    precision: dict = field(default_factory=dict)  # PrecisionDecision: requested, used, reason, check

    def to_json(self) -> dict:
        return asdict(self)


class TokenCounter:
    """Tokens the optimizer actually trained on, counted at the loss (the dataloader reads one batch ahead, so
    counting in the collator would overcount at a checkpoint). Saved in each checkpoint so resume continues it."""

    FIELDS = ("tokens", "padded_tokens", "trained_tokens")

    def __init__(self):
        self.tokens = 0  # real (non-pad) tokens
        self.padded_tokens = 0  # tokens the model computed on, pad included
        self.trained_tokens = 0  # tokens that carried a label

    def count(self, inputs: dict) -> None:
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        self.padded_tokens += ids.numel()
        self.tokens += int(mask.sum()) if mask is not None else ids.numel()
        if "shift_labels" in inputs:
            self.trained_tokens += inputs["shift_labels"].numel()
        else:
            self.trained_tokens += int((inputs["labels"][:, 1:] != -100).sum())


def _precision(cfg: Config, model, rows: list[dict]):
    """(PrecisionDecision, TrainingArguments flags). LoRA/DoRA on bf16: the frozen base is stored in bf16 once
    (peft keeps the adapters, and so the optimizer state, in fp32) and only a GPU adds autocast on top. Full
    fine-tuning and QLoRA keep their weights as they are and train under autocast (bf16/fp16 flags)."""
    from tunewright.precision import PrecisionDecision, choose_precision

    tc = cfg.training
    cuda = next(model.parameters()).is_cuda
    if tc.method == "qlora":  # 4-bit base, bf16 compute dtype (methods.quantization_config)
        decision = PrecisionDecision(tc.precision, "bf16", "qlora: 4-bit NF4 base with bf16 compute")
        return decision, {"bf16": True, "fp16": False}
    adapters = tc.method in ("lora", "dora")
    decision = choose_precision(tc.precision, model, rows[:PRECISION_CHECK_EXAMPLES], tc.precision_tolerance,
                                cast=adapters, what="training")
    autocast = decision.used == "fp16" or (decision.used == "bf16" and (cuda or not adapters))
    return decision, {"bf16": autocast and decision.used == "bf16", "fp16": decision.used == "fp16"}


PRECISION_CHECK_EXAMPLES = 4


def warmup_steps(ratio: float, total_steps: int) -> int:
    """Warmup as a whole number of optimizer steps (transformers 4.x reads a float warmup_steps as steps)."""
    import math

    return math.ceil(ratio * total_steps) if ratio > 0 else 0


def _loss_logger(run: Run, curve: list[dict], penalties=()):
    """Logs the loss curve; with EWC/L2-SP the logged loss includes the penalty, logged beside it too."""
    from transformers import TrainerCallback

    class LossLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs and state.is_world_process_zero:
                row = {"stage": "train", "step": state.global_step, "epoch": round(state.epoch or 0, 4),
                       "loss": float(logs["loss"]), "learning_rate": float(logs.get("learning_rate", 0.0))}
                if penalties:
                    row["penalty"] = sum(p.last for p in penalties)
                curve.append(row)
                run.log_metric(row)

    return LossLogger()



def chats(examples: list[Example], cfg: Config) -> list[list[dict[str, str]]]:
    return [ex.to_chat(cfg.data.system_prompt) for ex in examples]


def _trainer_class():
    from transformers import Trainer

    class TunewrightTrainer(Trainer):
        """A Trainer whose loss is computed from logits on target positions only, plus forgetting penalties.

        Batches carry ``shift_labels`` (the K targets) and ``logits_to_keep`` (where they are), so the model
        returns (K, vocab) logits. The loss is the token sum over ``num_items_in_batch`` (the targets of the
        whole optimizer step, over all processes), the same normalisation the Trainer uses for causal LMs, so
        gradient accumulation and DDP give the token-mean loss of the global batch.
        """

        def __init__(self, *args, penalties=(), counter: TokenCounter | None = None, warmup_ratio: float = 0.0,
                     **kwargs):
            super().__init__(*args, **kwargs)
            self.warmup_ratio = warmup_ratio
            self.penalties = list(penalties)
            self.counter = counter or TokenCounter()
            self.model_accepts_loss_kwargs = True  # compute_loss normalises by num_items_in_batch itself

        def create_scheduler(self, num_training_steps: int, optimizer=None):
            """The configured schedule with ``warmup_ratio`` turned into whole steps of this run's step count:
            every admitted transformers version reads an integer warmup_steps the same way."""
            self.args.warmup_steps = warmup_steps(self.warmup_ratio, num_training_steps)
            return super().create_scheduler(num_training_steps, optimizer)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            self.counter.count(inputs)
            if "shift_labels" not in inputs:  # plain padded batch: the model computes its own loss
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            targets = inputs.pop("shift_labels")
            out = model(**inputs)
            logits = out.logits.reshape(-1, out.logits.shape[-1]).float()  # (K, vocab)
            total = F.cross_entropy(logits, targets.to(logits.device), reduction="sum")
            loss = total / (num_items_in_batch if num_items_in_batch is not None else max(1, targets.numel()))
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes  # DDP averages gradients; the divisor is global
            if self.penalties:  # once per optimizer step, so divided over the accumulated micro-batches
                loss = loss + sum(p() for p in self.penalties) / self.args.gradient_accumulation_steps
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"training loss became {float(loss)} at step {self.state.global_step + 1}")
            return (loss, out) if return_outputs else loss

    return TunewrightTrainer


def _pick_collator(cfg: Config, model, tokenizer):
    """(collator, packed?, selective?, note, the model's attention implementation before packing or None).

    Packing only where the self-check shows it exact for this model."""
    tc = cfg.training
    selective = supports_selective_logits(model)
    if tc.packing != "off" and selective:
        register_varlen_attention()
        original = model.config._attn_implementation
        model.set_attn_implementation(VARLEN_ATTENTION)
        ok, note = packing_is_exact(model, model.config.vocab_size)
        if ok:
            return PackedCollator(), True, True, note, original
        model.set_attn_implementation(original)
        if tc.packing == "on":
            raise InputError(f"training.packing=on, but packing is not exact for this model: {note}")
        return SelectivePadCollator(tokenizer.pad_token_id), False, True, f"padding: {note}", original
    if tc.packing == "on":
        raise InputError("training.packing=on, but this model's forward has no logits_to_keep")
    if selective:
        return SelectivePadCollator(tokenizer.pad_token_id), False, True, "padding: training.packing=off", None
    return PadCollator(tokenizer.pad_token_id), False, False, "padding: no logits_to_keep", None


def _peak_rss() -> int | None:
    if sys.platform.startswith("linux"):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return None


def _all_reduce(values: list[int]) -> list[int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        t = torch.tensor(values, dtype=torch.long)
        torch.distributed.all_reduce(t)
        return t.tolist()
    return values


def _rung_callback(stop_at_step: int | None):
    """Stop with a checkpoint once ``stop_at_step`` optimizer steps are done (None: no rung)."""
    if stop_at_step is None:
        return None
    from transformers import TrainerCallback

    class StopAtRung(TrainerCallback):
        stopped = False

        def on_step_end(self, args, state, control, **kw):
            if state.global_step >= stop_at_step and state.global_step < state.max_steps:
                control.should_save = True
                control.should_training_stop = True
                self.stopped = True

    return StopAtRung()


def train_model(cfg: Config, run: Run, train: list[Example], model, tokenizer, resume: bool = False,
                stop_at_step: int | None = None) -> TrainResult:
    """Fine-tune ``model`` on ``train`` and save the adapter (or the full weights) into ``run.model_dir``.

    ``resume`` continues from the run's latest complete checkpoint. Raises :class:`TrainingStopped` when a
    signal or a non-finite loss ends training early; the checkpoint it names is where --resume continues.
    ``stop_at_step`` stops at that optimizer step with a checkpoint and the model saved, on the schedule of
    the whole run (a tuning rung: ``resume`` later continues to ``training.max_steps`` as if never stopped).
    """
    from datasets import Dataset
    from transformers import TrainingArguments, set_seed

    tc = cfg.training
    check_method_available(tc.method)
    ckpt_dir = run.path / "checkpoints"
    resume_from = latest_checkpoint(ckpt_dir) if resume else None
    if resume and resume_from is None:
        raise TrainingStopped(f"--resume: no complete checkpoint in {ckpt_dir}", None)
    set_seed(tc.seed)
    if tc.max_train_examples is not None:
        train = train[: tc.max_train_examples]
    enc: EncodedSet = encode_examples(tokenizer, chats(train, cfg), tc.max_seq_tokens, tc.overlong)
    if not enc.rows:
        raise InputError("training split is empty after encoding; nothing to train on")
    replay = replay_rows(cfg, tokenizer, len(enc.rows))
    ds = Dataset.from_list(enc.rows + replay)

    model.train()
    model.config.use_cache = False
    collator, packed, selective, note, original_attn = _pick_collator(cfg, model, tokenizer)  # checked in fp32
    precision, precision_flags = _precision(cfg, model, enc.rows)
    peft_model = apply_method(model, tc)
    trainable, total = count_parameters(peft_model)
    penalties = make_penalties(peft_model, cfg, tokenizer)
    restored = read_counters(resume_from)
    counter = TokenCounter()
    for k, v in restored.items():
        setattr(counter, k, v)

    kwargs = dict(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=tc.batch_size,
        gradient_accumulation_steps=tc.gradient_accumulation_steps,
        learning_rate=tc.learning_rate,
        lr_scheduler_type="linear",
        warmup_steps=0,  # set from training.warmup_ratio once the step count is known (create_scheduler)
        weight_decay=tc.weight_decay,
        num_train_epochs=tc.epochs,
        max_steps=tc.max_steps,
        logging_steps=tc.logging_steps,
        save_strategy="steps",
        save_steps=tc.save_steps,
        report_to=list(cfg.tracking.report_to) or "none",  # transformers' integrations (tunewright/tracking.py)
        run_name=run.id,
        seed=tc.seed,
        data_seed=tc.seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),
        optim="adamw_torch",
        **precision_flags,
    )
    if "train_sampling_strategy" in inspect.signature(TrainingArguments.__init__).parameters:
        kwargs["train_sampling_strategy"] = tc.sampling
    else:  # transformers 4.x
        kwargs["group_by_length"] = tc.sampling == "group_by_length"
    args = TrainingArguments(**kwargs)
    curve: list[dict] = []
    reason = {"reason": "periodic"}
    stopper = signal_callback(reason)
    rung = _rung_callback(stop_at_step)
    restore_env = apply_training_env(cfg, run)  # the integrations read their settings when the Trainer is built
    trainer = _trainer_class()(
        model=peft_model, args=args, train_dataset=ds, data_collator=collator, penalties=penalties, counter=counter,
        warmup_ratio=tc.warmup_ratio, callbacks=[_loss_logger(run, curve, penalties), checkpoint_callback(counter, reason), finite_gradients_callback(),
                   stopper, *([rung] if rung else [])],
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    try:
        with stopper:
            out = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    except NonFiniteLoss as e:
        last = latest_checkpoint(ckpt_dir)
        raise TrainingStopped(
            f"{e}. Training stopped; the last good checkpoint is {last or 'none (no checkpoint was written yet)'}. "
            "Lower training.learning_rate (or check the data) before resuming.", last) from None
    finally:
        restore_env()
        if original_attn is not None:
            model.set_attn_implementation(original_attn)
    seconds = time.perf_counter() - t0
    if stopper.signum is not None:
        last = latest_checkpoint(ckpt_dir)
        raise TrainingStopped(
            f"training stopped by {reason['reason']} at step {trainer.state.global_step}; checkpoint {last}. "
            f"Continue with: tunewright train --run {run.path} --resume", last, exit_code=130)
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    tokens, padded, trained = _all_reduce([counter.tokens, counter.padded_tokens, counter.trained_tokens])
    session_tokens = tokens - restored.get("tokens", 0) * max(1, args.world_size)

    if trainer.is_world_process_zero():
        tmp = run.path / ".model.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        peft_model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        shutil.rmtree(run.model_dir, ignore_errors=True)
        tmp.rename(run.model_dir)
        if not tc.keep_checkpoints and not (rung and rung.stopped):  # a rung's checkpoint is where it resumes
            shutil.rmtree(ckpt_dir, ignore_errors=True)

    return TrainResult(
        method=tc.method, trainable_params=trainable, total_params=total, train_examples=len(enc.rows),
        replay_examples=len(replay),
        train_tokens=tokens, padded_tokens=padded, trained_tokens=trained,
        truncated_examples=enc.truncated, dropped_examples=enc.dropped, steps=out.global_step,
        seconds=round(seconds, 2), tokens_per_second=round(session_tokens / seconds, 1) if seconds else 0.0,
        final_loss=curve[-1]["loss"] if curve else float(out.training_loss), peak_memory_bytes=peak,
        loss_curve=curve, packing=packed, packing_note=note, selective_logits=selective,
        penalties=[p.name for p in penalties], resumed_from=str(resume_from) if resume_from else None,
        peak_rss_bytes=_peak_rss(), world_size=args.world_size, precision=precision.to_json(),
    )
