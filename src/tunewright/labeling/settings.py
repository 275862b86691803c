"""Programmatic labeling and human review settings.

Part of ``tunewright.yaml`` (tunewright/config.py assembles the sections); each stage owns its settings.
"""

from __future__ import annotations


from pydantic import Field, field_validator

from tunewright.section import Section, registry_of as _registry


class LabelingSection(Section):
    functions_module: str | None = Field(
        None, description="Labeling functions: a dotted module name or a .py file (relative to the config) whose "
        "top-level @labeling_function objects vote.")
    rules_file: str | None = Field(None, description="YAML keyword / regex rules (relative to the config).")
    label_model: str = Field("auto", description="Label model: 'auto' (extraction: 'span', classification: "
                             "'one_coin_dawid_skene'), 'span' (entity candidates: is-entity x which-type), "
                             "'one_coin_dawid_skene' or 'dawid_skene' (crowd-kit), 'majority', or "
                             "'snorkel' (needs the snorkel package).")
    classes: list[str] = Field(default_factory=list, description="Classification: the labels functions may vote "
                               "(default task.labels). Extraction uses task.entity_types plus 'O' (not an entity).")
    use_gold: bool = Field(True, description="Score functions and the label model against the data's own answers "
                           "where it has them.")
    seed: int = Field(0, description="Seed of the label model.")
    keep_gold: bool = Field(True, description="Training: an example that came with its own answer trains on it "
                            "(source gold). False labels every training example by functions / review, the data's "
                            "answers only score them (the hybrid measurement).")
    min_confidence: float = Field(0.0, ge=0, le=1, description="Training: drop label-model labels whose "
                                  "confidence is below this from the training set; each dropped example is listed with its reason "
                                  "in the run's quarantine (reviewed and gold labels are always kept).")

    @field_validator("label_model")
    @classmethod
    def _known_label_model(cls, v):
        return v if v == "auto" else _registry("label_models").validate(v)


class ReviewSection(Section):
    db_url: str | None = Field(None, description="SQLAlchemy URL of the review store; default a SQLite file "
                               "RUN/labeling/review.db (WAL). A postgresql:// URL for a shared server.")
    host: str = Field("127.0.0.1", description="Address the review app binds; loopback unless you mean otherwise.")
    port: int = Field(8765, ge=1, le=65535, description="Port of the review app.")
    budget: int = Field(300, ge=1, description="Review the this-many most valuable examples.")
    double_review_share: float = Field(0.2, ge=0, le=1, description="Share of queued items that go to two reviewers "
                                       "(for agreement).")
    gold_share: float = Field(0.1, ge=0, le=1, description="Share of queued items with a known answer used as gold "
                              "checks of each reviewer's accuracy.")
    queue_weights: dict[str, float] = Field(default_factory=dict, description="Weights of the queue's terms "
                                            "(uncertainty, disagreement, audit, reviewers, no_votes); default 1, "
                                            "no_votes 0.5.")
    suspects_file: str | None = Field(None, description="JSONL {id, reasons} of audit label-noise suspects.")
    seed: int = Field(0, description="Seed of the double-review and gold draws.")
    lease_minutes: float = Field(30.0, gt=0, description="An item handed to a reviewer is theirs alone (as many "
                                 "reviewers as it still needs) for this long; then it is offered to others.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Host names the review app answers to "
                                     "besides 127.0.0.1, localhost and ::1 (a Host header check against DNS "
                                     "rebinding; add the name reviewers type when you bind another address).")
    secure_cookies: bool = Field(False, description="Serve behind https: Secure, __Host- cookies.")
