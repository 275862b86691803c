"""``tunewright export --push-to-hub REPO``: the export folder laid out as a Hugging Face model repository
(the model files, ``README.md`` as the model card, ``tunewright/`` with the report, the audit summary and
the config), then uploaded with ``huggingface_hub``.

The card comes from :func:`model_card`, that is the full card builder (``tunewright.serving.model_card``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tunewright.project import Run


def model_card(run: Run) -> str:
    """The model card (README.md) for a run's export: headline numbers, audit summary, forgetting verdict,
    training configuration and the base model's license (serving/model_card.py)."""
    from tunewright.serving.model_card import build_model_card

    return build_model_card(run.path)


def hub_layout(run: Run, export_dir: Path) -> list[str]:
    """Add the card and tunewright's records to an export folder; returns the repository's file list."""
    export_dir = Path(export_dir)
    if not (export_dir / "README.md").exists():  # the verified exports write their card with their own numbers
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
