"""`tunewright label` and `tunewright review` end to end on a ner_finance subset: label, queue, review through
the app (TestClient, real SQLite), export with provenance, agreement, Label Studio / Argilla round trips."""

import json
import re

from typer.testing import CliRunner

from review_helpers import ROOT, hidden_fields, local_client
from tunewright.cli import app
from tunewright.config import load_config
from tunewright.reporting.labeling_section import labeling_html, labeling_section
from tunewright.project import Run
from tunewright.records import read_examples
from tunewright.reporting.report import _table
from tunewright.review.app import create_app
from tunewright.review.service import label_validator
from tunewright.review.store import Store


def test_label_review_export_agreement_interop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tunewright.yaml").write_text(
        "project: {runs_dir: runs}\n"
        "data: {max_records: 120, train_files: ['pkg:evals/registry/data/ner_finance/samples.jsonl']}\n"
        "task: {type: extraction, entity_types: [PERSON, ORGANIZATION, LOCATION]}\n"
        f"labeling: {{functions_module: {ROOT / 'examples/labeling/finance_lfs.py'}, "
        f"rules_file: {ROOT / 'examples/labeling/finance_rules.yaml'}}}\n"
        "review: {budget: 10, double_review_share: 0.5, gold_share: 0.3}\n", encoding="utf-8")
    cli = CliRunner()
    r = cli.invoke(app, ["label"])
    assert r.exit_code == 0, r.output
    assert "party_roles" in r.output and "label_model: entity_f1" in r.output
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    analysis = json.loads((run / "labeling" / "analysis.json").read_text())
    assert analysis["examples"] == 120 and analysis["scores"]["majority"]["entity_f1"] > 0
    r = cli.invoke(app, ["review", "init", "--run", str(run), "--reviewer", "ann", "--reviewer", "ben"])
    assert r.exit_code == 0, r.output
    tokens = dict(re.findall(r"reviewer (\w+): token (\S+)", r.output))
    assert "queued 10 new items" in r.output and set(tokens) == {"ann", "ben"}

    store = Store(f"sqlite:///{run / 'labeling' / 'review.db'}")
    assert sum(it.required_reviews == 2 for it in store.items()) == 5
    assert sum(it.gold is not None for it in store.items()) == 3
    web = create_app(store, label_validator(load_config(tmp_path / "tunewright.yaml")))
    for name in ("ann", "ben"):
        c = local_client(web, headers={"Authorization": f"Bearer {tokens[name]}"})
        while 'id="done"' not in (page := c.get("/item")).text:
            f = hidden_fields(page.text)
            data = {**f, "action": "accept"} if name == "ann" else {**f, "action": "correct", "label": "No entities found"}
            assert c.post("/judge", data=data, follow_redirects=False).status_code == 303
    assert len(store.judgments()) == 15  # 10 items, 5 of them twice

    r = cli.invoke(app, ["review", "export", "--run", str(run)])
    assert r.exit_code == 0 and "120 examples, 10 reviewed" in r.output, r.output
    exported = read_examples(run / "data" / "reviewed.jsonl")
    reviewed = [e for e in exported if "review" in e.meta]
    assert len(exported) == 120 and len(reviewed) == 10
    for e in reviewed:
        j = e.meta["review"]["judgments"]
        assert all({"reviewer", "at", "action", "before", "after"} <= set(x) for x in j)
    assert all(e.meta["labeling"]["source"] == "label_model" for e in exported if "review" not in e.meta)

    r = cli.invoke(app, ["review", "agreement", "--run", str(run)])
    assert r.exit_code == 0 and "ann / ben: 5 items" in r.output, r.output
    assert json.loads((run / "labeling" / "agreement.json").read_text())["pairs"][0]["items"] == 5
    section = labeling_section(Run(run))
    page = "".join(labeling_html(section, _table))
    assert "party_roles" in page and "label_model" in page and "Cohen&#x27;s kappa" in page

    ls = tmp_path / "ls.json"
    assert cli.invoke(app, ["review", "transfer", "--run", str(run), "export", str(ls)]).exit_code == 0
    tasks = json.loads(ls.read_text())
    assert len(tasks) == 10 and tasks[0]["predictions"][0]["result"] is not None
    tasks[0]["annotations"] = [{"id": 1, "completed_by": "zoe", "result": [], "was_cancelled": False}]
    ls.write_text(json.dumps(tasks))
    for expected in (1, 0):  # importing twice adds the judgment once
        r = cli.invoke(app, ["review", "transfer", "--run", str(run), "import", str(ls)])
        assert r.exit_code == 0 and f"imported {expected} judgments" in r.output, r.output
    zoe = [j for j in store.judgments() if j.reviewer == "labelstudio:zoe"]
    assert len(zoe) == 1 and zoe[0].after == "No entities found"

    ar = tmp_path / "argilla.jsonl"
    assert cli.invoke(app, ["review", "transfer", "--run", str(run), "export", str(ar), "--format", "argilla"]).exit_code == 0
    recs = [json.loads(x) for x in ar.read_text().splitlines()]
    recs[1]["responses"] = [{"question_name": "label", "user_id": "yan", "status": "submitted",
                             "value": []}]  # an empty span list: "No entities found"
    ar.write_text("\n".join(json.dumps(x) for x in recs))
    r = cli.invoke(app, ["review", "transfer", "--run", str(run), "import", str(ar), "--format", "argilla"])
    assert r.exit_code == 0 and "imported 1 judgments" in r.output, r.output
    (yan,) = [j for j in store.judgments() if j.reviewer == "argilla:yan"]
    assert yan.after == "No entities found" and yan.item_id == store.items()[1].id

    # revoke: the token stops working at once, a reissued one works
    r = cli.invoke(app, ["review", "revoke", "--run", str(run), "--reviewer", "ann", "--reissue"])
    assert r.exit_code == 0 and "token revoked" in r.output, r.output
    new = re.search(r"new token (\S+)", r.output).group(1)
    assert local_client(web, headers={"Authorization": f"Bearer {tokens['ann']}"}).get("/item").status_code == 401
    assert local_client(web, headers={"Authorization": f"Bearer {new}"}).get("/item").status_code == 200
    r = cli.invoke(app, ["review", "revoke", "--run", str(run), "--reviewer", "nobody"])
    assert r.exit_code != 0 and "no reviewer 'nobody'" in r.output
