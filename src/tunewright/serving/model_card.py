"""The model card (README.md) of an exported or published model, built from a run directory.

Everything on it is read from the run's artifacts: the headline numbers with their intervals (report.json),
the data audit summary and the forgetting verdict, the training configuration, the base model's license, and
(for an export) the read-back checks. ``build_model_card(run_dir)`` is the entry point the hub upload uses too.

The front matter follows the Hugging Face model card metadata (license, base_model, library_name, tags).
"""

from __future__ import annotations

from pathlib import Path

from tunewright.project import Run, atomic_write_text, read_json


def _report(run: Run) -> dict:
    p = run.path / "report.json"
    if p.exists():
        return read_json(p)
    from tunewright.reporting.report import build_report

    return build_report(run)


def _readme_license(folder: Path) -> str | None:
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    text = readme.read_text(encoding="utf-8", errors="replace")[:20000]
    if not text.startswith("---"):
        return None
    for line in text.split("\n")[1:200]:
        if line.strip() == "---":
            break
        key, _, value = line.partition(":")
        if key.strip() == "license" and value.strip():
            return value.strip().strip("'\"")
    return None


def base_license(cfg) -> str | None:
    """model.license, else the base GGUF's general.license, else the license in the base's README front matter."""
    if cfg.model.license:
        return cfg.model.license
    from tunewright.assets import resolve_path

    try:
        folder = Path(resolve_path(cfg.model.name_or_path))
    except Exception:  # a hub id that is not on this machine: nothing local to read
        return None
    if cfg.model.gguf_file and (folder / cfg.model.gguf_file).is_file():
        from gguf import GGUFReader

        f = GGUFReader(folder / cfg.model.gguf_file).fields.get("general.license")
        if f is not None:
            return bytes(f.parts[f.data[0]]).decode("utf-8")
    return _readme_license(folder) if folder.is_dir() else None


def _ci(c: dict | None) -> str:
    return "" if not c else f" [{c['low']:.4f}, {c['high']:.4f}]"


def _numbers(rep: dict) -> list[str]:
    t = rep["task"]
    lines = ["| | base | tuned | change (paired 95% CI) |", "|---|---|---|---|",
             f"| {t['name']}: {t['metric']} (n={t['n']}) | {t['base']:.4f}{_ci(t.get('base_ci'))} | "
             f"{t['tuned']:.4f}{_ci(t.get('tuned_ci'))} | {t['change']:+.4f}{_ci(t.get('change_ci'))} |"]
    for name, g in rep.get("general", {}).items():
        lines.append(f"| general: {name} ({g['metric']}, n={g['n']}) | {g['base']:.4f} | {g['tuned']:.4f} | "
                     f"{g['abs_change']:+.4f}{_ci(g.get('change_ci'))} |")
    sig = "significant" if t.get("significant") else "not significant (the interval includes 0)"
    return lines + ["", f"The task change is {sig}."]


def _forgetting(rep: dict) -> list[str]:
    f = rep.get("forgetting", {})
    mean = f.get("suite_mean_ability_change")
    out = [f"Verdict: **{f.get('verdict', 'n/a')}**" + ("" if mean is None else f" (mean ability change {mean:+.1%})")]
    return out + [f"- {r}" for r in f.get("reasons", [])]


def _audit(rep: dict) -> list[str]:
    d = rep.get("data", {})
    reasons = sorted((d.get("reasons") or {}).items(), key=lambda kv: -kv[1])[:8]
    split = d.get("split") or {}
    out = [f"- input records: {d.get('input_records')}, used: {d.get('used')}, quarantined: {d.get('quarantined')}"]
    if reasons:
        out.append("- quarantine reasons: " + ", ".join(f"{k} ({v})" for k, v in reasons))
    if split:
        out.append("- split: " + ", ".join(f"{k} {v}" for k, v in split.items() if isinstance(v, (int, float))))
    return out


def _training(rep: dict, cfg) -> list[str]:
    tr = rep.get("training", {})
    t = cfg.training
    rows = [("method", tr.get("method", t.method)), ("steps", tr.get("steps")), ("learning rate", t.learning_rate),
            ("batch size", t.batch_size), ("max sequence tokens", t.max_seq_tokens),
            ("trainable parameters", f"{tr.get('trainable_params', 0):,} of {tr.get('total_params', 0):,}"),
            ("trained tokens", tr.get("train_tokens")), ("seconds", tr.get("seconds")), ("seed", t.seed)]
    if t.method in ("lora", "dora", "qlora"):
        rows[1:1] = [("LoRA rank / alpha / dropout", f"{t.lora_r} / {t.lora_alpha} / {t.lora_dropout}")]
    return ["| setting | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def _export(export: dict) -> list[str]:
    out = [f"Format: `{export['format']}`. Every artifact was read back and scored on the run's test split "
           "before the export reported success:", "",
           "| artifact | weights | loader | metric | value | tuned (95% CI) | allowed | agreement | passed |",
           "|---|---|---|---|---|---|---|---|---|"]
    for v in export.get("verifications", []):
        out.append(f"| {Path(v['artifact']).name} | {v['weights']} | {v['loader']} | {v['metric']} | {v['value']:.4f} | "
                   f"{v['tuned']:.4f} [{v['tuned_low']:.4f}, {v['tuned_high']:.4f}] | "
                   f"[{v['allowed_low']:.4f}, {v['allowed_high']:.4f}] | {v['agreement']:.0%} | {v['passed']} |")
    if export.get("serve_command"):
        out += ["", f"Serve it: `{export['serve_command']}`"]
    out += [f"- warning: {w}" for w in export.get("warnings", [])]
    return out


def build_model_card(run_dir: Path, export: dict | None = None) -> str:
    """Markdown model card for the run in ``run_dir`` (and, with ``export``, the export's checks)."""
    from tunewright.config import Config

    run = Run(Path(run_dir))
    m = run.manifest()
    cfg = Config.model_validate(m["config"])
    rep = _report(run)
    lic = base_license(cfg) or "unknown"
    base = cfg.model.name_or_path + (f" ({cfg.model.gguf_file})" if cfg.model.gguf_file else "")
    library = "peft" if export and export.get("format") == "adapter" else "transformers"
    front = ["---", f"license: {lic}", f"base_model: {cfg.model.name_or_path}", f"library_name: {library}",
             "tags:", "- tunewright", f"- {cfg.training.method}", "---"]
    body = [f"# {cfg.project.name}: {cfg.task.type} fine-tune of {base}", "",
            f"Run `{run.id}`, trained by tunewright with {cfg.training.method}.", "",
            "## Results", "", *_numbers(rep), "", "## Forgetting", "", *_forgetting(rep), "",
            "## Data audit", "", *_audit(rep), "", "## Training configuration", "", *_training(rep, cfg), ""]
    if cfg.data.system_prompt:
        body += [f"System prompt used in training and evaluation: `{cfg.data.system_prompt}`", ""]
    if export:
        body += ["## Export", "", *_export(export), ""]
    body += ["## License", "", f"The base model is licensed `{lic}`; this derivative keeps the base's license terms.",
             "Check the license of the training data as well before you distribute the model.", ""]
    return "\n".join(front + [""] + body)


def write_model_card(run_dir: Path, path: Path, export: dict | None = None) -> Path:
    atomic_write_text(Path(path), build_model_card(run_dir, export))
    return Path(path)
