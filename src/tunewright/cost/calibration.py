"""MFU by method: shipped assumptions until the project's own runs replace them.

``tunewright cost calibrate RUN`` reads the run's measured throughput and peak memory (train_result.json,
written by the train stage), turns the throughput into MFU with the one FLOP function, and appends it to
``<runs_dir>/calibration.json``. MFU counts real (non-pad) tokens, so padding shows up as lower MFU.
Estimates then use the median measured MFU for that method, with the
spread of the measurements (widened by 10% each side) as its range.
"""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path

from tunewright.cost.settings import Range, rng
from tunewright.project import read_json, write_json
from tunewright.errors import InputError
from tunewright.training.methods import get_method

# The assumed MFU (low, expected, high) for a transformers Trainer on a modern data-centre GPU is each
# method's ``mfu_prior`` (training/methods.py); not measured here. LoRA spends a larger share of time outside
# big matmuls (adapters, casts), QLoRA also dequantizes.


def load_calibration(path: Path) -> dict:
    if not Path(path).exists():
        return {"version": 1, "runs": []}
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise InputError(f"{path}: not a tunewright calibration file (expected {{'runs': [...]}})")
    return data


def mfu_range(method: str, calibration: dict) -> tuple[Range, str]:
    """(MFU range, where it came from) for a method."""
    measured = [r["mfu"] for r in calibration.get("runs", []) if r.get("method") == method and r.get("mfu")]
    if measured:
        return (rng(min(measured) * 0.9, statistics.median(measured), max(measured) * 1.1),
                f"calibrated from {len(measured)} run(s)")
    low, exp, high = get_method(method).mfu_prior
    return rng(low, exp, high), "shipped assumption (calibrate with 'tunewright cost calibrate RUN')"


def memory_ratio(method: str, calibration: dict) -> float | None:
    """Median measured / estimated peak memory of calibrated GPU runs of this method."""
    ratios = [r["memory_ratio"] for r in calibration.get("runs", [])
              if r.get("method") == method and r.get("memory_ratio")]
    return statistics.median(ratios) if ratios else None


def calibration_entry(run_dir: Path, train_result: dict, flops_per_token: float, peak_flops: float | None,
                      gpu: str | None, estimated_peak_bytes: int | None) -> dict:
    tps = float(train_result["tokens_per_second"])
    peak_mem = train_result.get("peak_memory_bytes")
    return {
        "run": str(run_dir), "date": dt.date.today().isoformat(), "method": train_result["method"], "gpu": gpu,
        "tokens_per_second": tps, "flops_per_token": flops_per_token,
        "mfu": round(tps * flops_per_token / peak_flops, 4) if peak_flops else None,
        "peak_memory_bytes": peak_mem, "estimated_peak_bytes": estimated_peak_bytes,
        "memory_ratio": round(peak_mem / estimated_peak_bytes, 4) if peak_mem and estimated_peak_bytes else None,
    }


def add_entry(path: Path, entry: dict) -> dict:
    """Append (or replace, for the same run) and write atomically."""
    data = load_calibration(path)
    data["runs"] = [r for r in data["runs"] if r.get("run") != entry["run"]] + [entry]
    write_json(path, data)
    return data
