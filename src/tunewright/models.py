"""Load a base model and its tokenizer: a hub id, a local folder, or a GGUF file.

A GGUF checkpoint is dequantized by transformers (``gguf_file=``, ~15-20 s for SmolLM2-135M) and saved once
as safetensors in a cache folder keyed by the file's SHA-256, so every later load takes well under a second.
Only safetensors are ever loaded (``use_safetensors=True``): no pickle, and ``trust_remote_code`` stays off
unless the config turns it on.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from tunewright.assets import resolve_path
from tunewright.config import ModelSection
from tunewright.project import file_sha256
from tunewright.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class ResolvedModel:
    path: str  # a folder with safetensors (or a hub id)
    origin: str  # what the user named
    gguf_sha256: str | None = None


def _clear_gguf_marks(model) -> None:
    """The dequantized model still carries the GGUF quantizer marks, which make save_pretrained refuse."""
    for attr in ("hf_quantizer",):
        if hasattr(model, attr):
            try:
                delattr(model, attr)
            except AttributeError:
                setattr(model, attr, None)
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def convert_gguf(folder: Path, gguf_file: str, cache_dir: Path) -> ResolvedModel:
    """Dequantize ``folder/gguf_file`` to a safetensors folder in ``cache_dir`` (once per file hash)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = folder / gguf_file
    if not gguf_path.exists():
        raise FileNotFoundError(f"{gguf_path}: GGUF file not found")
    digest = file_sha256(gguf_path)
    target = Path(cache_dir).expanduser() / f"{gguf_path.stem}-{digest[:16]}"
    if (target / "model.safetensors").exists() or (target / "model.safetensors.index.json").exists():
        return ResolvedModel(str(target), str(gguf_path), digest)
    log.info("converting %s to safetensors (once) in %s", gguf_path, target)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf_file, dtype=torch.float32)
    _clear_gguf_marks(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ResolvedModel(str(target), str(gguf_path), digest)


def resolve_model(cfg: ModelSection) -> ResolvedModel:
    if cfg.gguf_file:
        folder = resolve_path(cfg.name_or_path)
        return convert_gguf(folder, cfg.gguf_file, Path(cfg.cache_dir))
    if cfg.name_or_path.startswith("pkg:"):
        return ResolvedModel(str(resolve_path(cfg.name_or_path)), cfg.name_or_path)
    return ResolvedModel(cfg.name_or_path, cfg.name_or_path)


def pick_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def load_tokenizer(resolved: ResolvedModel, cfg: ModelSection, chat_template: str | None = None):
    """The tokenizer; ``chat_template`` (a built-in name or a Jinja template) replaces the model's own, for a
    base model that ships none."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolved.path, trust_remote_code=cfg.trust_remote_code, revision=cfg.revision)
    if chat_template is not None:
        from tunewright.training.chat_templates import resolve_chat_template

        tok.chat_template = resolve_chat_template(chat_template)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        raise InputError(f"{resolved.origin}: the tokenizer has no chat template; tunewright trains chat models")
    return tok


def load_model(resolved: ResolvedModel, cfg: ModelSection, dtype: torch.dtype = torch.float32, device=None,
               quantization_config=None):
    """The base model from safetensors. With ``quantization_config`` (QLoRA) bitsandbytes places it on the GPU."""
    from transformers import AutoModelForCausalLM

    extra = {"quantization_config": quantization_config} if quantization_config is not None else {}
    model = AutoModelForCausalLM.from_pretrained(
        resolved.path,
        dtype=torch.bfloat16 if quantization_config is not None else dtype,
        trust_remote_code=cfg.trust_remote_code,
        revision=cfg.revision,
        use_safetensors=True,
        **extra,
    )
    if quantization_config is None:
        model.to(device or pick_device())
    model.eval()
    return model


def load_adapter_model(resolved: ResolvedModel, cfg: ModelSection, adapter_dir: Path, device=None):
    """The tuned model: base plus a saved adapter, merged for fast inference, or full fine-tuned weights."""
    from peft import PeftModel

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():  # training.method=full saved the whole model
        return load_model(ResolvedModel(str(adapter_dir), str(adapter_dir)), cfg, device=device)
    base = load_model(resolved, cfg, device=device)
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    model = model.merge_and_unload()
    model.eval()
    return model
