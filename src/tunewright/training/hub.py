"""``tunewright export --push-to-hub REPO``: the export folder laid out as a Hugging Face model repository
(the model files, ``README.md`` as the model card, ``tunewright/`` with the report, the audit summary and
the config), then uploaded with ``huggingface_hub``.

The card comes from :func:`model_card`, the one place to point at the full card builder
(``tunewright.serving.model_card``, issue 18) once it exists; until then it is a short card written from
report.json.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tunewright.project import Run, read_json


def model_card(run: Run) -> str:
    """The model card (README.md) for a run's export."""
    try:  # the full card (headline numbers, audit summary, forgetting verdict, config, base license): issue 18
        from tunewright.serving.model_card import render_model_card  # type: ignore[import-not-found]
    except ImportError:
        render_model_card = None
    if render_model_card is not None:
        return render_model_card(run)
    m = run.manifest()
    rep = read_json(run.path / "report.json") if (run.path / "report.json").exists() else {}
    t, f = rep.get("task", {}), rep.get("forgetting", {})
    lines = ["---", f"base_model: {m['config']['model']['name_or_path']}", "library_name: transformers",
             "tags: [tunewright]", "---", "", f"# {m['config']['project']['name']} ({run.id})", ""]
    if t:
        lines.append(f"- {t['metric']}: base {t['base']:.3f} -> tuned {t['tuned']:.3f} on {t['n']} test examples")
    if f:
        lines.append(f"- forgetting gate: {f.get('verdict')}")
    d = rep.get("data", {})
    if d:
        lines.append(f"- data: {d.get('input_records')} records, {d.get('used')} used, {d.get('quarantined')} "
                     "quarantined")
    lines += ["", "Full report, audit summary and configuration: `tunewright/` in this repository."]
    return "\n".join(lines) + "\n"


def hub_layout(run: Run, export_dir: Path) -> list[str]:
    """Add the card and tunewright's records to an export folder; returns the repository's file list."""
    export_dir = Path(export_dir)
    (export_dir / "README.md").write_text(model_card(run), encoding="utf-8")
    extra = export_dir / "tunewright"
    extra.mkdir(exist_ok=True)
    for src in (run.path / "report.json", run.path / "report.html", run.data_dir / "audit.json"):
        if src.exists():
            shutil.copy2(src, extra / src.name)
    config = run.manifest()["config"]
    (extra / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return sorted(str(p.relative_to(export_dir)) for p in export_dir.rglob("*") if p.is_file())


def push_to_hub(export_dir: Path, repo_id: str, private: bool = True) -> str:
    """Create (or reuse) the model repository and upload the folder; needs the hub and a token."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(export_dir), repo_id=repo_id, repo_type="model",
                             commit_message="tunewright export")
    return str(getattr(info, "commit_url", info))
