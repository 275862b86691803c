"""GPU memory of one training step, per GPU: a breakdown, whether it fits each GPU, the largest micro-batch.

The peak is the sum of everything that can be live at once (bytes; P = all parameters, P_t = trainable
ones, b = bytes of the weight dtype):

    weights       P b; QLoRA keeps the layers' projections in 4-bit NF4 (0.5 B + 1/64 B of double-quantised
                  absmax per weight) and the rest in bf16; 8-bit keeps them in int8 (1 B + a row scale)
    adapters      LoRA A and B in fp32 (peft's default), DoRA adds a magnitude vector per projection
    gradients     P_t in the trainable dtype (they live alongside late activations, and whole under gradient
                  accumulation)
    optimizer     AdamW: 2 states per trainable weight in its dtype; 8-bit AdamW: 2 bytes per weight
    activations   saved for backward (tunewright.cost.activations), plus one recomputed layer when
                  checkpointing
    logits        the head's output and its fp32 upcast/gradient: tokens x vocab x (b + 4), transient
    runtime       CUDA context, cuBLAS workspace and allocator slack: not in torch.cuda.max_memory_allocated,
                  but a GPU must hold it

DDP replicates everything and adds gradient buckets (a second copy of the gradients); FSDP (full shard)
divides weights, gradients and optimizer states by n and gathers two layers' weights at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from tunewright.cost.activations import DTYPE_BYTES, estimate_activations
from tunewright.cost.hardware import GIB, GPU, HardwareTable
from tunewright.cost.model_shape import ModelShape
from tunewright.errors import InputError
from tunewright.training.methods import get_method

OPTIMIZERS = ("adamw", "adamw_8bit")
STRATEGIES = ("single", "ddp", "fsdp")
RUNTIME_OVERHEAD_BYTES = int(1.0 * GIB)  # context + workspaces; measured ~0.5-1 GiB on recent CUDA stacks
ALLOCATOR_SLACK = 0.05  # fragmentation: reserved memory runs a few percent above allocated


@dataclass(frozen=True)
class Setup:
    method: str = "lora"
    dtype: str = "bf16"  # weights and compute (fp32 for CPU runs)
    optimizer: str = "adamw"
    micro_batch: int = 8
    seq: int = 512
    attn: str = "sdpa"  # sdpa | flash_attention_2 | eager
    checkpointing: bool = False
    lora_r: int = 16
    n_gpus: int = 1
    strategy: str = "single"
    gradient_accumulation: int = 1
    quantization: str = "none"  # base weights: none | int8 | nf4 (QLoRA is always nf4)
    autocast: bool = True  # bf16 under torch.autocast (Trainer bf16=True); False: a plain bf16 model

    def __post_init__(self):
        get_method(self.method)  # InputError naming the known methods
        for field, value, allowed in (("quantization", self.quantization, ("none", "int8", "nf4")), ("optimizer", self.optimizer, OPTIMIZERS),
                                      ("strategy", self.strategy, STRATEGIES), ("dtype", self.dtype, tuple(DTYPE_BYTES)),
                                      ("attn", self.attn, ("sdpa", "flash_attention_2", "eager"))):
            if value not in allowed:
                raise InputError(f"{field}: {value!r} is not one of {', '.join(allowed)}")
        if self.micro_batch < 1 or self.seq < 1 or self.n_gpus < 1:
            raise InputError("micro_batch, seq and n_gpus must be at least 1")
        if self.quantization != "none" and not get_method(self.method).adapter:
            raise InputError("quantization: a quantized base cannot be fully fine-tuned; use lora or qlora")


@dataclass
class MemoryEstimate:
    setup: Setup
    lines: dict[str, int]  # category -> bytes per GPU

    @property
    def allocated(self) -> int:
        """Comparable with torch.cuda.max_memory_allocated."""
        return sum(v for k, v in self.lines.items() if k != "runtime overhead")

    @property
    def total(self) -> int:
        """What the GPU must hold: allocated, allocator slack and the runtime."""
        return int(self.allocated * (1 + ALLOCATOR_SLACK)) + self.lines.get("runtime overhead", 0)

    def fits(self, gpu: GPU) -> bool:
        return self.total <= gpu.memory_bytes

    def to_json(self) -> dict:
        return {"setup": asdict(self.setup), "lines_bytes": self.lines, "allocated_bytes": self.allocated,
                "total_bytes": self.total}


def _weight_bytes(shape: ModelShape, setup: Setup) -> int:
    b = DTYPE_BYTES[setup.dtype]
    spec = get_method(setup.method)
    quant = spec.base_quantization if spec.base_quantization != "none" else setup.quantization
    rest = shape.n_params - shape.n_layer_linear  # embeddings, head, norms stay in bf16
    if quant == "nf4":
        return int(shape.n_layer_linear * (0.5 + 1 / 64) + rest * 2)
    if quant == "int8":  # LLM.int8: one byte per weight and an fp32 scale per output row
        return int(shape.n_layer_linear + shape.layers * sum(o for _, o in shape.linears.values()) * 4 + rest * 2)
    return shape.n_params * b


def estimate_memory(shape: ModelShape, setup: Setup) -> MemoryEstimate:
    b = DTYPE_BYTES[setup.dtype]
    spec = get_method(setup.method)
    adapter = spec.adapter
    n_adapter = shape.lora_params(setup.lora_r) if adapter else 0
    if spec.keeps_base_output:
        n_adapter += shape.layers * sum(o for _, o in shape.linears.values())
    trainable, tb = (n_adapter, 4) if adapter else (shape.n_params, b)
    weights = _weight_bytes(shape, setup)
    grads = trainable * tb
    optim = trainable * (2 * tb if setup.optimizer == "adamw" else 2)
    act = estimate_activations(shape, setup.micro_batch, setup.seq, setup.method, "bf16" if b == 2 else setup.dtype,
                               "eager" if setup.attn == "eager" else "sdpa", setup.checkpointing, setup.lora_r,
                               autocast=setup.autocast)
    tokens = setup.micro_batch * setup.seq
    lines = {"weights": weights, "adapters": n_adapter * 4, "gradients": grads, "optimizer states": optim,
             "activations": act.layers + act.rope + act.weight_casts, "logits and loss": act.head_and_loss + tokens * shape.vocab * (b + 4)}
    if setup.checkpointing:
        lines["recomputed layer"] = act.recompute
    if setup.strategy == "fsdp" and setup.n_gpus > 1:
        n = setup.n_gpus
        layer_params = sum(i * o for i, o in shape.linears.values())
        for k in ("weights", "adapters", "gradients", "optimizer states"):
            lines[k] = -(-lines[k] // n)
        lines["FSDP gathered layers"] = 2 * layer_params * (b if spec.base_quantization == "none" else 1) * (1 if adapter else 2)
    elif setup.strategy == "ddp" and setup.n_gpus > 1:
        lines["DDP gradient buckets"] = grads
    lines["runtime overhead"] = RUNTIME_OVERHEAD_BYTES
    return MemoryEstimate(setup, lines)


def largest_micro_batch(shape: ModelShape, setup: Setup, gpu: GPU, cap: int = 4096) -> int:
    """The largest micro-batch whose step fits ``gpu`` (0: not even 1 fits)."""
    def ok(mb: int) -> bool:
        return estimate_memory(shape, replace(setup, micro_batch=mb)).fits(gpu)

    if not ok(1):
        return 0
    lo, hi = 1, 2
    while hi <= cap and ok(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, cap + 1)
    while hi - lo > 1:  # ok(lo), not ok(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def fits_table(shape: ModelShape, setup: Setup, table: HardwareTable) -> list[dict]:
    est = estimate_memory(shape, setup)
    return [{"gpu": g.name, "memory_gib": g.memory_gib, "fits": est.fits(g),
             "largest_micro_batch": largest_micro_batch(shape, setup, g)}
            for g in sorted(table.gpus.values(), key=lambda g: (g.memory_gib, g.name))]


def smallest_change(shape: ModelShape, setup: Setup, gpu: GPU, table: HardwareTable) -> str | None:
    """None when the set-up fits; else the least invasive change that makes it fit, in words."""
    if estimate_memory(shape, setup).fits(gpu):
        return None
    tries: list[tuple[str, Setup]] = []
    if not setup.checkpointing:
        tries.append(("turn on gradient checkpointing (~1.33x the compute)", replace(setup, checkpointing=True)))
    mb = largest_micro_batch(shape, setup, gpu)
    if mb:
        accum = -(-setup.micro_batch * setup.gradient_accumulation // mb)
        tries.append((f"micro-batch {mb} with gradient accumulation {accum} (same effective batch)",
                      replace(setup, micro_batch=mb)))
    base = replace(setup, checkpointing=True, micro_batch=1)
    spec = get_method(setup.method)
    if not spec.adapter and setup.optimizer == "adamw":
        tries.append(("8-bit AdamW with checkpointing, micro-batch 1", replace(base, optimizer="adamw_8bit")))
    if not spec.adapter:
        tries.append(("LoRA instead of full fine-tuning, with checkpointing, micro-batch 1", replace(base, method="lora")))
    if spec.base_quantization == "none":
        tries.append(("QLoRA (4-bit base) with checkpointing, micro-batch 1", replace(base, method="qlora")))
    for n in (2, 4, 8):
        if setup.n_gpus < n:
            tries.append((f"FSDP over {n} x {gpu.name}", replace(setup, strategy="fsdp", n_gpus=n)))
    for why, s in tries:
        if estimate_memory(shape, s).fits(gpu):
            return why
    bigger = [g.name for g in sorted(table.gpus.values(), key=lambda g: g.memory_gib)
              if estimate_memory(shape, setup).fits(g)]
    if bigger:
        return f"a GPU with more memory: {bigger[0]}"
    return "nothing in the table fits even with QLoRA, checkpointing and micro-batch 1; use FSDP over more GPUs"
