"""`tunewright demo --tune --quick` end to end on the real model: the study's trials are sub-runs scored on
validation, and report.json carries the tuning section (trials, the Pareto front, the chosen configuration, its
test comparison with the default) that the README describes."""

import json
import subprocess
import sys

import pytest

from tunewright.config import load_config

pytestmark = pytest.mark.slow


def test_demo_tune_quick_reports_the_study(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "tunewright", "demo", "--tune", "--quick", "--runs-dir", str(runs)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    check_study(run, proc.stdout)


def check_study(run, stdout):
    t = json.loads((run / "report.json").read_text())["tuning"]
    numbers = {x["number"] for x in t["trials"]} | {x["number"] for x in t["pruned"]}
    assert len(numbers) == 3 and t["default_trial"] == 0  # QUICK_TUNE: 3 trials, the default first
    assert t["pareto_front"] and set(t["pareto_front"]) <= {x["number"] for x in t["trials"]}
    assert t["choice_rule"] and t["chosen"]["trial"] in {x["number"] for x in t["trials"]}
    for x in t["trials"]:  # every trial is a sub-run of this run, scored on validation
        m = json.loads((run / "tuning" / f"trial-{x['number']:03d}" / "manifest.json").read_text())
        assert m["parent"] == run.name and m["want"]["eval_split"] == "validation"
    chosen = load_config(run / "tuning" / "chosen.yaml")  # what `tunewright run -c` reads
    lr = next(o for o in t["chosen"]["overrides"] if o.startswith("training.learning_rate="))
    assert chosen.training.learning_rate == pytest.approx(float(lr.split("=", 1)[1]))
    cmp = t["test"]["default_vs_chosen"]
    for k in ("base_ci", "tuned_ci", "change_ci"):
        assert cmp[k]["low"] <= cmp[k]["value"] <= cmp[k]["high"]
    assert "chosen:" in stdout and "chosen config:" in stdout
