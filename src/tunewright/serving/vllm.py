"""A folder vLLM serves: the merged model, or the adapter with the ``vllm serve`` command line for the base.

vLLM is the documented path beyond one machine (tunewright writes no serving engine). Unmerged, vLLM serves a
LoRA adapter with ``--enable-lora --lora-modules NAME=PATH --max-lora-rank R``; ``R`` must be at least the
adapter's rank and one of the ranks vLLM accepts. Two adapter kinds it cannot serve unmerged: DoRA
(``use_dora``, vllm-project/vllm#6983) and adapters with ``modules_to_save`` (fully trained extra modules,
vllm-project/vllm#9280); for those the export warns and the merged folder is the way.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # vLLM's --max-lora-rank choices


@dataclass
class VllmPlan:
    mode: str  # merged or lora
    command: str
    max_lora_rank: int | None = None
    warnings: list[str] = field(default_factory=list)


def adapter_warnings(adapter_config: dict) -> list[str]:
    out = []
    if adapter_config.get("use_dora"):
        out.append("this is a DoRA adapter: vLLM cannot serve DoRA unmerged (vllm-project/vllm#6983); serve the "
                   "merged folder (--format vllm --vllm-mode merged)")
    if adapter_config.get("modules_to_save"):
        out.append(f"the adapter trains modules_to_save {adapter_config['modules_to_save']}: vLLM's LoRA loader "
                   "does not load them (vllm-project/vllm#9280); serve the merged folder (--vllm-mode merged)")
    return out


def lora_rank(adapter_config: dict) -> int:
    ranks = [int(adapter_config.get("r", 8)), *map(int, (adapter_config.get("rank_pattern") or {}).values())]
    need = max(ranks)
    return next((r for r in VLLM_LORA_RANKS if r >= need), need)


def plan_vllm(folder: Path, mode: str, base: str, name: str, max_model_len: int | None = None) -> VllmPlan:
    """The serve command for an export folder (``folder/model`` merged, or ``folder/adapter`` for lora)."""
    extra = f" --max-model-len {max_model_len}" if max_model_len else ""
    if mode == "merged":
        return VllmPlan("merged", f"vllm serve ./model --served-model-name {shlex.quote(name)}{extra}")
    cfg = json.loads((Path(folder) / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    rank = lora_rank(cfg)
    cmd = (f"vllm serve {shlex.quote(base)} --enable-lora --lora-modules {shlex.quote(name)}=./adapter "
           f"--max-lora-rank {rank}{extra}")
    return VllmPlan("lora", cmd, rank, adapter_warnings(cfg))


def write_serve_script(folder: Path, plan: VllmPlan) -> Path:
    lines = ["#!/usr/bin/env sh", "# Written by tunewright: serve this export with vLLM (pip install vllm; a GPU).",
             *(f"# WARNING: {w}" for w in plan.warnings), 'cd "$(dirname "$0")"', f'exec {plan.command} "$@"']
    path = Path(folder) / "serve.sh"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path
