"""Numeric precision for training and evaluation: which dtype is fast on this device, checked on the model.

``precision: auto`` picks bf16 where the device computes it natively (a CUDA GPU with bf16; a CPU whose
/proc/cpuinfo flags include ``amx_bf16`` or ``avx512_bf16``, read at run time) and fp32 everywhere else
(on a CPU without those units bf16 is emulated and slower than fp32). Before bf16 is used the loaded model
runs a few real examples in fp32 and in bf16 (:func:`bf16_check`); when the bf16 loss or logits stray
beyond the tolerance, the run stays in fp32 and the decision says why. The decision (requested, used,
reason, the check's numbers) goes into the manifest and the report.

bf16 here means the frozen weights are *stored* in bf16 once (``model.to(bfloat16)``), so no op casts
weights on every step the way ``torch.autocast`` does; trainable LoRA adapters and their optimizer state
stay fp32 (peft keeps adapters fp32 on a bf16 base) and the loss is computed in fp32.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

FAST_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows (benchmarks record it: the same
    code ran 1.9x apart on two 2-core VMs of this project)."""
    import platform

    try:
        for line in CPUINFO.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fast_bf16(device: torch.device) -> tuple[bool, str]:
    """(whether ``device`` computes bf16 natively, why)."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return True, f"CUDA device {torch.cuda.get_device_name(device)} supports bf16"
        return False, f"CUDA device {torch.cuda.get_device_name(device)} has no bf16"
    if device.type == "cpu":
        found = sorted(cpu_flags() & set(FAST_BF16_CPU_FLAGS))
        if found:
            return True, f"CPU flags {', '.join(found)}"
        return False, "the CPU has neither amx_bf16 nor avx512_bf16 (bf16 would be emulated, slower than fp32)"
    return False, f"no fast-bf16 detection for device type {device.type}"


@dataclass
class PrecisionDecision:
    requested: str  # auto | fp32 | bf16 | fp16
    used: str  # fp32 | bf16 | fp16
    reason: str
    check: dict | None = None  # bf16_check's numbers, when it ran

    def to_json(self) -> dict:
        return asdict(self)


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _losses_and_logits(model, rows: list[dict]) -> tuple[list[float], list[torch.Tensor]]:
    """Per row: the mean NLL over its labeled positions and the fp32 logits at those positions."""
    from tunewright.training.formats import IGNORE_INDEX

    device = _device(model)
    losses, logits = [], []
    for r in rows:
        ids = torch.tensor([r["input_ids"]], device=device)
        labels = torch.tensor(r["labels"][1:], device=device)
        keep = labels != IGNORE_INDEX
        out = model(input_ids=ids).logits[0, :-1].float()[keep]
        losses.append(float(F.cross_entropy(out, labels[keep])))
        logits.append(out.cpu())
    return losses, logits


def bf16_check(model, rows: list[dict], tolerance: float, keep_bf16: bool = True) -> dict:
    """Run ``rows`` (encoded examples with labels) through ``model`` in fp32 and in bf16; compare.

    Two numbers must both be within ``tolerance``: the relative change of the mean loss, and the relative RMS
    error of the logits on the labeled positions (RMS of bf16 - fp32 over the RMS of the fp32 logits). The
    model is left in bf16 when the check passes (and ``keep_bf16``), else restored to its exact fp32 weights.
    """
    rows = [r for r in rows if any(x != -100 for x in r["labels"][1:])]
    if not rows:
        raise ValueError("the bf16 self-check needs at least one example with a labeled answer")
    was_training = model.training
    model.eval()
    ref_loss, ref_logits = _losses_and_logits(model, rows)
    backup = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items() if v.is_floating_point()}
    model.to(torch.bfloat16)
    loss, logits = _losses_and_logits(model, rows)
    model.train(was_training)
    ref_l, l16 = sum(ref_loss) / len(rows), sum(loss) / len(rows)
    a, b = torch.cat(ref_logits), torch.cat(logits)
    loss_rel = abs(l16 - ref_l) / max(abs(ref_l), 1e-6)
    logits_rel = float((b - a).pow(2).mean().sqrt() / a.pow(2).mean().sqrt().clamp_min(1e-6))
    top1 = float((a.argmax(-1) == b.argmax(-1)).float().mean())
    passed = loss_rel <= tolerance and logits_rel <= tolerance
    if not (passed and keep_bf16):
        model.to(torch.float32)
        model.load_state_dict(backup, strict=False)
    return {"examples": len(rows), "positions": int(a.shape[0]), "loss_fp32": round(ref_l, 5),
            "loss_bf16": round(l16, 5), "loss_rel_diff": round(loss_rel, 5), "logits_rel_rms": round(logits_rel, 5),
            "top1_agreement": round(top1, 4), "tolerance": tolerance, "passed": passed}


def choose_precision(requested: str, model, rows: list[dict], tolerance: float, cast: bool = True,
                     what: str = "training") -> PrecisionDecision:
    """Decide the precision of ``model`` and (for bf16 with ``cast``) store its weights in bf16.

    ``auto``: bf16 when the device has fast bf16 and :func:`bf16_check` passes on ``rows``, else fp32.
    ``bf16`` asked for explicitly: bf16 (the check still runs and is recorded; a failed check is a warning).
    ``fp16`` needs a CUDA GPU (it trains under autocast with a gradient scaler; weights stay fp32).
    ``cast=False`` decides without touching the weights (full fine-tuning trains fp32 weights under autocast).
    """
    device = _device(model)
    if requested == "fp32":
        return PrecisionDecision(requested, "fp32", f"{what}.precision=fp32")
    if requested == "fp16":
        if device.type != "cuda":
            raise ValueError(f"{what}.precision=fp16 needs a CUDA GPU; use auto or bf16 on this {device.type}")
        return PrecisionDecision(requested, "fp16", f"{what}.precision=fp16 (autocast, fp32 weights)")
    if requested not in ("auto", "bf16"):
        raise ValueError(f"{what}.precision: unknown value {requested!r} (auto, fp32, bf16 or fp16)")
    fast, why = fast_bf16(device)
    if requested == "auto" and not fast:
        return PrecisionDecision(requested, "fp32", f"no fast bf16: {why}")
    check = bf16_check(model, rows, tolerance, keep_bf16=cast)
    if check["passed"]:
        return PrecisionDecision(requested, "bf16", f"{why}; bf16 self-check passed (loss rel. diff "
                                 f"{check['loss_rel_diff']:.2g}, logits rel. RMS {check['logits_rel_rms']:.2g} "
                                 f"<= {tolerance})", check)
    failed = (f"bf16 self-check failed: loss rel. diff {check['loss_rel_diff']:.2g}, logits rel. RMS "
              f"{check['logits_rel_rms']:.2g}, tolerance {tolerance}")
    if requested == "auto":
        log.warning("%s stays in fp32: %s", what, failed)
        return PrecisionDecision(requested, "fp32", f"{failed}; fp32 instead", check)
    log.warning("%s.precision=bf16 as asked, although the %s", what, failed)
    if cast:
        model.to(torch.bfloat16)
    return PrecisionDecision(requested, "bf16", f"{what}.precision=bf16 as asked ({failed})", check)
