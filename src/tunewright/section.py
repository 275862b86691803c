"""The base of every config section, and the registries that own the names a section may use.

Each stage keeps its settings beside it (data/settings.py, evaluation/settings.py, ...) on this one base;
config.py assembles them into ``tunewright.yaml``'s model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


# bf16 self-check tolerance: relative loss change and relative logits RMS error against fp32. SmolLM2-135M on
# ner_finance measures about 0.01 and 0.03 (docs/experiments.md); a model that loses more in bf16 stays fp32.
PRECISION_TOLERANCE = 0.1


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def registry_of(kind: str):
    """The registry that owns the names of ``kind``, imported on use (config.py stays importable on its own)."""
    if kind == "checks":
        from tunewright.data.checks import CHECKS as reg
    elif kind == "tasks":
        from tunewright.evaluation.tasks import TASKS as reg
    elif kind == "methods":
        from tunewright.training.methods import METHODS as reg
    elif kind == "metrics":
        from tunewright.evaluation.metrics import METRICS as reg
    elif kind == "label_models":
        from tunewright.labeling.label_model import LABEL_MODELS as reg
    else:
        raise KeyError(kind)
    return reg
