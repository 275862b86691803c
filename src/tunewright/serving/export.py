"""``tunewright export --format merged | adapter | gguf | ollama | vllm``: write, read back, score, then report.

Each format is written into a temporary folder beside the target, every artifact in it is read back with the
loader a user would use and scored on the run's test split (``serving.verify``), the model card and
``export.json`` (files, checks, numbers) are added, and only then is the folder renamed into place. A failed
check still leaves the folder, with ``"passed": false`` in its ``export.json``, and raises
``ExportVerificationFailed``: the numbers are there to read, but the command does not report success.

    merged   model.safetensors + config + tokenizer      plain transformers
    adapter  adapter_model.safetensors + adapter_config  peft, on the base
    gguf     model-<type>.gguf for each --gguf-type      llama.cpp, Ollama, transformers gguf_file=
    ollama   model-<type>.gguf + Modelfile               ollama create NAME -f Modelfile
    vllm     model/ (merged) or adapter/, + serve.sh     vllm serve (merged, or base + --enable-lora)
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tunewright.config import Config
from tunewright.project import Run, atomic_dir, write_json
from tunewright.serving.gguf_file import GGUF_TYPES, tokenizer_pre_of, write_gguf
from tunewright.serving.verify import (ExportVerificationFailed, Verification, verify_adapter, verify_gguf,
                                       verify_merged)
from tunewright.training.export import export_model

FORMATS = ("merged", "adapter", "gguf", "ollama", "vllm")
VLLM_MODES = ("merged", "lora")


@dataclass
class ExportResult:
    format: str
    path: str
    files: list[str]
    verifications: list[Verification]
    passed: bool
    warnings: list[str] = field(default_factory=list)
    serve_command: str | None = None
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": self.format, "path": self.path, "files": self.files, "passed": self.passed,
                "verifications": [v.to_json() for v in self.verifications], "warnings": self.warnings,
                "serve_command": self.serve_command, "details": self.details}


@dataclass
class ExportSource:
    """What an export is built from: the run, the base weights (a local folder or hub id), the origin names."""

    cfg: Config
    run: Run
    base_path: str
    base_gguf: str | None = None  # the GGUF file the base was converted from, if any (for tokenizer.ggml.pre)

    @property
    def model_dir(self) -> Path:
        return self.run.model_dir

    def is_adapter(self) -> bool:
        return (self.model_dir / "adapter_config.json").is_file()


def _move_up(folder: Path, into: Path) -> None:
    for f in folder.iterdir():
        f.rename(into / f.name)
    folder.rmdir()


def _test_prompts(src: ExportSource, limit: int) -> list[list[dict]]:
    from tunewright.evaluation.evaluate import eval_items
    from tunewright.records import read_examples

    test = eval_items(src.cfg, read_examples(src.run.data_dir / "test.jsonl"))[:limit]
    return [ex.to_chat(src.cfg.data.system_prompt)[:-1] for ex in test]


def _write_ggufs(src: ExportSource, tmp: Path, types: list[str], verify: bool) -> tuple[list[str], list[Verification]]:
    scratch = tmp / ".merged"
    export_model(src.base_path, src.model_dir, scratch, merged=True, trust_remote_code=src.cfg.model.trust_remote_code)
    pre = tokenizer_pre_of(src.base_gguf)
    names, checks = [], []
    try:
        for t in types:
            info = write_gguf(scratch, tmp / f"model-{t}.gguf", t, tokenizer_pre=pre, name=src.run.id,
                              license_id=src.cfg.model.license)
            names.append(Path(info.path).name)
        if verify:
            checks = [verify_gguf(src.cfg, src.run, tmp / n, t) for n, t in zip(names, types)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return names, checks


def _write_format(src: ExportSource, fmt: str, tmp: Path, gguf_types: list[str], vllm_mode: str,
                  verify: bool) -> ExportResult:
    cfg = src.cfg
    trc = cfg.model.trust_remote_code
    res = ExportResult(fmt, "", [], [], True)
    if fmt in ("merged", "adapter"):
        info = export_model(src.base_path, src.model_dir, tmp / ".payload", merged=fmt == "merged", trust_remote_code=trc)
        _move_up(tmp / ".payload", tmp)
        res.details["kind"] = info["kind"]
        if verify:
            adapter = info["kind"] == "adapter"
            res.verifications.append(verify_adapter(cfg, src.run, tmp, src.base_path) if adapter
                                     else verify_merged(cfg, src.run, tmp))
    elif fmt == "gguf":
        _, res.verifications = _write_ggufs(src, tmp, gguf_types, verify)
    elif fmt == "ollama":
        from transformers import AutoTokenizer

        names, res.verifications = _write_ggufs(src, tmp, gguf_types[:1], verify)
        tok_dir = src.model_dir if (src.model_dir / "tokenizer_config.json").exists() else src.base_path
        mf = _modelfile(src, tmp, names[0], AutoTokenizer.from_pretrained(tok_dir))
        res.warnings += mf.warnings
        res.details["modelfile"] = {"layout": mf.layout, "system": mf.system, "stops": mf.stops,
                                    "template_checked_on_test_prompts": mf.checked_prompts}
        res.serve_command = f"ollama create {src.run.id} -f Modelfile && ollama run {src.run.id}"
    elif fmt == "vllm":
        from tunewright.serving.vllm import plan_vllm, write_serve_script

        if vllm_mode not in VLLM_MODES:
            raise ValueError(f"--vllm-mode: {vllm_mode!r} is not one of {', '.join(VLLM_MODES)}")
        if vllm_mode == "lora" and not src.is_adapter():
            raise ValueError(f"{src.model_dir}: a full fine-tune has no adapter; use --vllm-mode merged")
        sub = tmp / ("model" if vllm_mode == "merged" else "adapter")
        export_model(src.base_path, src.model_dir, sub, merged=vllm_mode == "merged", trust_remote_code=trc)
        plan = plan_vllm(tmp, vllm_mode, vllm_base(src), "specialist")
        write_serve_script(tmp, plan)
        res.warnings += plan.warnings
        res.serve_command = plan.command
        res.details["vllm"] = {"mode": plan.mode, "max_lora_rank": plan.max_lora_rank}
        if verify:
            res.verifications.append(verify_merged(cfg, src.run, sub) if vllm_mode == "merged"
                                     else verify_adapter(cfg, src.run, sub, src.base_path))
    else:
        raise ValueError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    return res


def _modelfile(src: ExportSource, tmp: Path, gguf_name: str, tok):
    from tunewright.serving.ollama import write_modelfile

    return write_modelfile(tmp, gguf_name, tok, src.cfg.data.system_prompt, _test_prompts(src, 64),
                           src.cfg.task.max_new_tokens)


def vllm_base(src: ExportSource) -> str:
    """The base vLLM loads: the user's hub id when they named one, else the local safetensors folder."""
    name = src.cfg.model.name_or_path
    if not src.cfg.model.gguf_file and not name.startswith("pkg:") and not Path(name).exists():
        return name
    return str(Path(src.base_path).resolve())


def export_run(src: ExportSource, fmt: str, out: Path, gguf_types: list[str] | None = None,
               vllm_mode: str = "merged", verify: bool = True) -> ExportResult:
    """Write ``fmt`` into the new folder ``out``, verify it, add the model card and export.json."""
    from tunewright.serving.model_card import write_model_card

    out = Path(out)
    gguf_types = list(gguf_types or (GGUF_TYPES if fmt == "gguf" else ["q8_0"]))
    for t in gguf_types:
        if t not in GGUF_TYPES:
            raise ValueError(f"--gguf-type: {t!r} is not one of {', '.join(GGUF_TYPES)}")
    if fmt not in FORMATS:
        raise ValueError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if not src.model_dir.is_dir():
        raise FileNotFoundError(f"{src.model_dir}: no trained model; run 'tunewright train' first")
    with atomic_dir(out) as tmp:
        res = _write_format(src, fmt, tmp, gguf_types, vllm_mode, verify)
        res.passed = all(v.passed for v in res.verifications) and (bool(res.verifications) or not verify)
        if not verify:
            res.warnings.append("not verified (--no-verify): nothing was read back or scored")
        res.path = str(out)
        record = {**res.to_json(), "run_id": src.run.id, "run": str(src.run.path),
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_model_card(src.run.path, tmp / "README.md", export=record)
        res.files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()) + ["export.json"]
        record["files"] = res.files
        write_json(tmp / "export.json", record)
    assert not any(f.endswith((".bin", ".pt", ".pth", ".pkl")) for f in res.files), res.files  # safetensors only
    exports = [e for e in src.run.manifest().get("exports", []) if e.get("path") != str(out)]
    src.run.update_manifest(exports=[*exports, {k: record[k] for k in ("format", "path", "passed", "verifications",
                                                                       "created")}])
    if not res.passed:
        failed = [v for v in res.verifications if not v.passed]
        raise ExportVerificationFailed(
            "; ".join(f"{Path(v.artifact).name} ({v.weights}): {v.metric} {v.value:.4f} outside "
                      f"[{v.allowed_low:.4f}, {v.allowed_high:.4f}] (tuned {v.tuned:.4f})" for v in failed)
            + f" - the export is in {out} with passed: false in export.json")
    return res
