"""Export the trained model for plain transformers / peft: the adapter alone, or the base with the adapter
merged in (one safetensors model any ``AutoModelForCausalLM.from_pretrained`` loads, no peft needed)."""

from __future__ import annotations

import shutil
from pathlib import Path
from tunewright.errors import MissingArtifact
from tunewright.project import atomic_dir


def export_model(base_path: str, model_dir: Path, out: Path, merged: bool, trust_remote_code: bool = False) -> dict:
    """Write the export into ``out`` (atomically: a temporary folder renamed at the end)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir, out = Path(model_dir), Path(out)
    if not model_dir.is_dir():
        raise MissingArtifact(f"{model_dir}: no trained model; run 'tunewright train' first")
    is_adapter = (model_dir / "adapter_config.json").is_file()
    with atomic_dir(out) as tmp:
        if is_adapter and merged:
            from peft import PeftModel

            base = AutoModelForCausalLM.from_pretrained(base_path, use_safetensors=True,
                                                        trust_remote_code=trust_remote_code)
            model = PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()
            model.save_pretrained(tmp, safe_serialization=True)
            AutoTokenizer.from_pretrained(model_dir).save_pretrained(tmp)
            kind = "merged"
        else:  # the adapter alone, or full fine-tuned weights (already a complete model)
            for f in model_dir.iterdir():
                if f.is_file():
                    shutil.copy2(f, tmp / f.name)
            kind = "adapter" if is_adapter else "full"
    files = sorted(p.name for p in out.iterdir())
    assert not any(f.endswith((".bin", ".pt", ".pth", ".pkl")) for f in files), files  # safetensors only
    return {"kind": kind, "path": str(out), "files": files}
