"""The cost stage: from a project config to memory, time and lifecycle cost, with scenarios side by side.

Everything here is wiring; the numbers come from flops, memory, pricing and lifecycle. The result is a
JSON-able dict that the CLI prints and the HTML report renders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from tunewright.config import Config
from tunewright.cost.calibration import load_calibration, memory_ratio, mfu_range
from tunewright.cost.flops import training_flops_per_token
from tunewright.cost.hardware import GIB, HardwareTable, load_hardware
from tunewright.cost.lifecycle import lifecycle_cost
from tunewright.cost.memory import Setup, estimate_memory, fits_table, largest_micro_batch, smallest_change
from tunewright.cost.model_shape import PRESETS, ModelShape, load_shape
from tunewright.cost.pricing import run_hours
from tunewright.cost.settings import CostSection
from tunewright.errors import InputError, MissingArtifact
from tunewright.results import CalibrationOutcome


@dataclass
class Plan:
    shape: ModelShape
    setup: Setup
    table: HardwareTable
    dataset_tokens: int
    dataset_tokens_source: str
    epochs: float
    examples: int | None  # training examples per epoch, when counted from the files


def _model_ref(cfg: Config) -> tuple[str, str | None]:
    c = cfg.cost
    if c.model is None:
        name = cfg.model.name_or_path
        local = cfg.resolve(name)
        return (local if Path(local).expanduser().exists() else name), cfg.model.gguf_file
    if c.model in PRESETS or c.model.startswith("pkg:"):
        return c.model, None
    return cfg.resolve(c.model), None


def estimate_dataset_tokens(cfg: Config) -> tuple[int, int]:
    """Training tokens per epoch from the training files: characters / 4 plus 4 per chat message, train share only."""
    from tunewright.data.audit import read_inputs

    examples = read_inputs(cfg, cfg.data.train_files).examples
    share = 1 - cfg.split.validation_fraction - (0 if cfg.data.test_files else cfg.split.test_fraction)
    n = int(len(examples) * share)
    if cfg.training.max_train_examples is not None:
        n = min(n, cfg.training.max_train_examples)
    chars = msgs = 0
    for ex in examples[:n]:
        chat = ex.to_chat(cfg.data.system_prompt)
        msgs += len(chat)
        chars += sum(min(len(m["content"]), 4 * cfg.training.max_seq_tokens) for m in chat)
    return max(1, chars // 4 + 4 * msgs), n


def resolve_plan(cfg: Config) -> Plan:
    c, t = cfg.cost, cfg.training
    table = load_hardware(cfg.resolve(c.hardware_file) if c.hardware_file else None)
    model, gguf = _model_ref(cfg)
    shape = load_shape(model, gguf, cfg.model.cache_dir)
    setup = Setup(method=c.method or t.method, dtype=c.precision, optimizer=c.optimizer,
                  micro_batch=c.micro_batch or t.batch_size, seq=c.seq_tokens or t.max_seq_tokens,
                  attn=c.attn_implementation, checkpointing=c.gradient_checkpointing, lora_r=t.lora_r,
                  n_gpus=c.n_gpus, strategy=c.strategy, gradient_accumulation=t.gradient_accumulation_steps,
                  quantization=c.quantization, autocast=c.autocast)
    if c.dataset_tokens is not None:
        tokens, source, examples = c.dataset_tokens, "cost.dataset_tokens", None
    else:
        tokens, examples = estimate_dataset_tokens(cfg)
        source = f"{examples:,} examples in data.train_files, characters / 4"
    return Plan(shape, setup, table, tokens, source, c.epochs or t.epochs, examples)


def _tokens_per_run(cfg: Config, plan: Plan) -> tuple[float, str]:
    """training.max_steps wins over epochs (as in the Trainer) when we know the mean example length."""
    t = cfg.training
    if cfg.cost.epochs is None and t.max_steps > 0 and plan.examples:
        per_example = plan.dataset_tokens / plan.examples
        n = t.max_steps * t.batch_size * t.gradient_accumulation_steps * cfg.cost.n_gpus
        return n * per_example, f"training.max_steps={t.max_steps} x {n // t.max_steps} sequences/step"
    return plan.dataset_tokens * plan.epochs, f"{plan.epochs:g} epoch(s)"


def estimate_cost(cfg: Config) -> dict:
    c = cfg.cost
    plan = resolve_plan(cfg)
    shape, setup, table = plan.shape, plan.setup, plan.table
    gpu = table.lookup(c.gpu)
    serving_gpu = table.lookup(c.serving.gpu or c.gpu)
    calib_path = Path(cfg.resolve(cfg.project.runs_dir)) / c.calibration_file
    calib = load_calibration(calib_path)
    flops = training_flops_per_token(shape, setup.seq, setup.method, setup.lora_r, setup.checkpointing)
    mem = estimate_memory(shape, setup)
    mfu, mfu_source = mfu_range(setup.method, calib)
    tokens_per_run, basis = _tokens_per_run(cfg, plan)
    hours = run_hours(tokens_per_run, flops.train, gpu, setup.n_gpus, mfu)
    life = lifecycle_cost(c, hours, setup.n_gpus, gpu, serving_gpu, shape.n_params)
    ratio = memory_ratio(setup.method, calib)
    return {
        "model": {k: v for k, v in shape.to_json().items() if k != "linears"},
        "setup": asdict(setup), "gpu": gpu.name, "serving_gpu": serving_gpu.name,
        "prices_as_of": table.prices_as_of, "hardware_sources": table.sources,
        "flops": flops.to_json(),
        "memory": {**mem.to_json(), "gpu_memory_bytes": gpu.memory_bytes, "fits_gpu": mem.fits(gpu),
                   "largest_micro_batch": largest_micro_batch(shape, setup, gpu),
                   "smallest_change": smallest_change(shape, setup, gpu, table),
                   "fits_table": fits_table(shape, setup, table),
                   "calibrated_ratio": ratio},
        "time": {"dataset_tokens": plan.dataset_tokens, "dataset_tokens_source": plan.dataset_tokens_source,
                 "epochs": plan.epochs, "tokens_per_run": tokens_per_run, "run_basis": basis, "run_hours": hours.to_json(),
                 "mfu": mfu.model_dump(), "mfu_source": mfu_source, "calibration_file": str(calib_path)},
        "lifecycle": life.to_json(),
    }


def _set_dotted(data: dict, key: str, value) -> None:
    node = data
    parts = key.split(".")
    for k in parts[:-1]:
        if not isinstance(node.get(k), dict):
            raise InputError(f"cost.scenarios: {key}: {k} is not a section of cost")
        node = node[k]
    node[parts[-1]] = value


def scenario_configs(cfg: Config) -> list[tuple[str, Config]]:
    """The configured project first, then each scenario: the same config with its cost fields changed."""
    out = [(cfg.project.name, cfg)]
    for i, sc in enumerate(cfg.cost.scenarios):
        data = cfg.cost.model_dump(mode="json")
        data["scenarios"] = []
        for k, v in sc.set.items():
            _set_dotted(data, k, v)
        try:
            cost = CostSection.model_validate(data)
        except ValueError as e:
            raise InputError(f"cost.scenarios.{i} ({sc.name}): {e}") from None
        variant = cfg.model_copy(update={"cost": cost})
        variant.base_dir = cfg.base_dir
        out.append((sc.name, variant))
    return out


def estimate_scenarios(cfg: Config) -> dict:
    """{'scenarios': [{'name', 'estimate'}, ...]}: the configured project and every cost.scenarios entry."""
    return {"scenarios": [{"name": name, "estimate": estimate_cost(c)} for name, c in scenario_configs(cfg)]}


def write_estimate(res: dict, json_out: Path | None = None, plot: Path | None = None) -> list[Path]:
    """Write the scenarios' estimate as JSON and their cost plot as PNG where asked; returns what was written."""
    import base64
    import json

    from tunewright.cost.render import scenario_plot
    from tunewright.project import atomic_write_bytes, atomic_write_text

    written = []
    if json_out:
        atomic_write_text(json_out, json.dumps(res, indent=2) + "\n")
        written.append(json_out)
    if plot:
        atomic_write_bytes(plot, base64.b64decode(scenario_plot(res["scenarios"])))
        written.append(plot)
    return written


def calibrate_run(run_dir: Path, gpu_name: str | None, cfg: Config | None = None) -> CalibrationOutcome:
    """Add a trained run's measured throughput (and GPU peak memory) to the project's calibration file."""
    from tunewright.cost.calibration import add_entry, calibration_entry
    from tunewright.project import Run, read_json

    run = Run(run_dir)
    m = run.manifest()
    tr_path = run.path / "train_result.json"
    if not tr_path.exists():
        raise MissingArtifact(f"{tr_path}: the run has no training result; run 'tunewright train' first")
    tr = read_json(tr_path)
    if cfg is None:
        cfg = Config.model_validate(m["config"])
        cfg.base_dir = Path(m.get("config_dir", Path.cwd()))
    plan = resolve_plan(cfg.model_copy(update={"cost": cfg.cost.model_copy(update={"dataset_tokens": 1})}))
    table = plan.table
    gpu = table.lookup(gpu_name) if gpu_name else None
    if tr.get("peak_memory_bytes") and gpu is None:
        raise InputError("the run trained on a GPU: name it with --gpu so its MFU can be computed")
    # the attention term needs the sequence length the run really had: its mean padded length
    seqs = tr.get("steps", 0) * cfg.training.batch_size * cfg.training.gradient_accumulation_steps
    seq = min(plan.setup.seq, max(1, round(tr["padded_tokens"] / seqs))) if seqs and tr.get("padded_tokens") \
        else plan.setup.seq
    flops = training_flops_per_token(plan.shape, seq, tr["method"], plan.setup.lora_r, plan.setup.checkpointing)
    est = estimate_memory(plan.shape, plan.setup).allocated if tr.get("peak_memory_bytes") else None
    entry = calibration_entry(run.path, tr, flops.train, gpu.peak_flops if gpu else None,
                              gpu.name if gpu else None, est)
    path = Path(cfg.resolve(cfg.project.runs_dir)) / cfg.cost.calibration_file
    data = add_entry(path, entry)
    return CalibrationOutcome(entry["method"], entry["tokens_per_second"], entry["gpu"], entry["mfu"],
                              entry.get("memory_ratio"), path, len(data["runs"]))


def gib(n: float) -> float:
    return n / GIB
