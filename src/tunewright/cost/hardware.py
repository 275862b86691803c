"""The one hardware table (STYLE.md #10): GPUs with peak bf16 FLOP/s, memory, bandwidth and a dated price range.

Shipped as ``hardware.yaml`` inside the package; a user file adds GPUs or replaces them by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from tunewright.errors import InputError

GIB = 1024**3


@dataclass(frozen=True)
class GPU:
    name: str
    bf16_tflops: float
    memory_gib: float
    bandwidth_gbs: float
    price_low: float  # USD per GPU-hour
    price_high: float
    aliases: tuple[str, ...] = ()

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)

    @property
    def peak_flops(self) -> float:
        return self.bf16_tflops * 1e12


@dataclass
class HardwareTable:
    gpus: dict[str, GPU]
    prices_as_of: str
    sources: list[str]

    def known(self) -> list[str]:
        return sorted(self.gpus)

    def lookup(self, name: str) -> GPU:
        """By name or alias, ignoring case, spaces, dashes and underscores."""
        key = _norm(name)
        for gpu in self.gpus.values():
            if key == _norm(gpu.name) or key in {_norm(a) for a in gpu.aliases}:
                return gpu
        raise InputError(f"unknown GPU {name!r}; known GPUs: {', '.join(self.known())} "
                         "(add yours with a hardware file: cost.hardware_file or --hardware)")


def _norm(s: str) -> str:
    return "".join(c for c in s.lower() if c.isalnum())


def _parse(data: dict, source: str) -> tuple[dict[str, GPU], str | None]:
    if not isinstance(data, dict) or not isinstance(data.get("gpus"), dict):
        raise InputError(f"{source}: expected a mapping with a 'gpus' section")
    gpus = {}
    for name, g in data["gpus"].items():
        where = f"{source}: gpus.{name}"
        if not isinstance(g, dict):
            raise InputError(f"{where}: expected a mapping")
        missing = {"bf16_tflops", "memory_gib", "bandwidth_gbs", "price_usd_per_hour"} - set(g)
        if missing:
            raise InputError(f"{where}: missing {sorted(missing)}")
        price = g["price_usd_per_hour"]
        if not (isinstance(price, list) and len(price) == 2 and 0 <= price[0] <= price[1]):
            raise InputError(f"{where}.price_usd_per_hour: expected [low, high] with 0 <= low <= high, got {price!r}")
        try:
            gpus[name] = GPU(str(name), float(g["bf16_tflops"]), float(g["memory_gib"]), float(g["bandwidth_gbs"]),
                             float(price[0]), float(price[1]), tuple(str(a) for a in g.get("aliases", [])))
        except (TypeError, ValueError) as e:
            raise InputError(f"{where}: {e}") from None
    return gpus, (str(data["prices_as_of"]) if "prices_as_of" in data else None)


def load_hardware(override: str | Path | None = None) -> HardwareTable:
    text = resources.files("tunewright.cost").joinpath("hardware.yaml").read_text(encoding="utf-8")
    gpus, date = _parse(yaml.safe_load(text), "tunewright/cost/hardware.yaml")
    sources = [f"tunewright/cost/hardware.yaml (prices as of {date})"]
    if override is not None:
        p = Path(override).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"{p}: hardware file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise InputError(f"{p}: not valid YAML: {e}") from None
        extra, user_date = _parse(data, str(p))
        gpus.update(extra)
        date = user_date or date
        sources.append(f"{p} (prices as of {user_date or 'not given'})")
    return HardwareTable(gpus=gpus, prices_as_of=date or "unknown", sources=sources)
