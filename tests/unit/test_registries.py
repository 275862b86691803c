"""Registries are the one source of names: config validates against them, defaults come from them, and
docs/design.md's table lists exactly what is registered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tunewright.config import Config, ConfigError, load_config

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def _registries():
    from tunewright.data.checks import CHECKS
    from tunewright.evaluation.metrics import METRICS
    from tunewright.evaluation.stats import STATISTICS
    from tunewright.evaluation.tasks import TASKS
    from tunewright.labeling.label_model import LABEL_MODELS
    from tunewright.training.methods import METHODS

    return {"checks": CHECKS, "tasks": TASKS, "training methods": METHODS, "metrics": METRICS,
            "bootstrap statistics": STATISTICS, "label models": LABEL_MODELS}


def _design_table() -> dict[str, set[str]]:
    rows = {}
    for line in DESIGN.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in _registries():
            rows[cells[0]] = {n.strip() for n in cells[3].split(",")}
    return rows


def test_design_table_lists_exactly_what_is_registered():
    table = _design_table()
    for kind, reg in _registries().items():
        assert table.get(kind) == set(reg.names()), f"docs/design.md registry table, row {kind!r}"


def test_config_defaults_are_registered_and_checks_default_from_the_registry():
    from tunewright.data.checks import CHECKS

    cfg = Config()
    assert cfg.audit.checks == CHECKS.default_names()
    assert "semantic_duplicate" not in cfg.audit.checks  # opt-in
    assert cfg.task.type in _registries()["tasks"] and cfg.training.method in _registries()["training methods"]


@pytest.mark.parametrize("override, key, hint", [
    ("training.method=lorra", "training.method", "did you mean 'lora'"),
    ("task.type=clasification", "task.type", "did you mean 'classification'"),
    ("audit.checks=[schema, pi]", "audit.checks", "did you mean 'pii'"),
    ("task.metric=rougel", "task.metric", "did you mean 'rouge_l'"),
    ("labeling.label_model=majorty", "labeling.label_model", "did you mean 'majority'"),
    ("cost.method=dorra", "cost.method", "did you mean 'dora'"),
])
def test_unknown_names_are_config_errors_with_the_nearest_name(override, key, hint):
    with pytest.raises(ConfigError) as e:
        load_config(None, [override])
    assert key in str(e.value) and hint in str(e.value)


def test_the_config_descriptions_name_every_task_and_method():
    desc_task = Config.model_fields["task"].annotation.model_fields["type"].description
    desc_method = Config.model_fields["training"].annotation.model_fields["method"].description
    for name in _registries()["tasks"].names():
        assert f"'{name}'" in desc_task
    for name in _registries()["training methods"].names():
        assert re.search(rf"\b{name}\b", desc_method)


def test_a_method_carries_its_cost_factors():
    from tunewright.cost.calibration import mfu_range
    from tunewright.training.methods import get_method

    assert get_method("qlora").base_quantization == "nf4" and get_method("qlora").needs_cuda
    assert not get_method("full").adapter and get_method("dora").keeps_base_output
    r, why = mfu_range("lora", {"runs": []})
    assert r.expected == pytest.approx(get_method("lora").mfu_prior[1]) and "assumption" in why


def test_no_module_branches_on_task_type_outside_tasks_py():
    src = Path(__file__).resolve().parents[2] / "src" / "tunewright"
    offenders = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if p.name != "tasks.py" and re.search(r"task\.type\s*(==|!=|in\s*\()", p.read_text())]
    assert not offenders, offenders
