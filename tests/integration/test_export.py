"""tunewright export: merged model loads in plain transformers, adapter loads in peft, both give the tuned logits."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_train import tiny_llama, train_tiny  # noqa: E402

from tunewright.training.export import export_model  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory, smol_tokenizer):
    root = tmp_path_factory.mktemp("export")
    base = root / "base"
    tiny_llama(len(smol_tokenizer), seed=42).save_pretrained(base, safe_serialization=True)  # train_tiny's init
    smol_tokenizer.save_pretrained(base)
    train_tiny(root / "run", ["training.max_steps=3", "training.learning_rate=0.05"])
    return base, root / "run" / "model"


def test_merged_and_adapter_exports_give_the_same_logits(tmp_path, trained):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base, model_dir = trained
    merged = export_model(str(base), model_dir, tmp_path / "merged", merged=True)
    adapter = export_model(str(base), model_dir, tmp_path / "adapter", merged=False)
    assert merged["kind"] == "merged" and "model.safetensors" in merged["files"]
    assert adapter["kind"] == "adapter" and "adapter_model.safetensors" in adapter["files"]
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", use_safetensors=True).eval()
    with_peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(tmp_path / "adapter")).eval()
    untouched = AutoModelForCausalLM.from_pretrained(base).eval()
    with torch.no_grad():
        a, b, c = plain(ids).logits, with_peft(ids).logits, untouched(ids).logits
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(a, c)  # the export carries the training


def test_export_refuses_to_overwrite_and_names_missing_models(tmp_path, trained):
    base, model_dir = trained
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        export_model(str(base), model_dir, tmp_path / "busy", merged=True)
    assert (tmp_path / "busy" / "x").read_text() == "keep me"
    with pytest.raises(FileNotFoundError, match="no trained model"):
        export_model(str(base), tmp_path / "nothing", tmp_path / "out", merged=True)
