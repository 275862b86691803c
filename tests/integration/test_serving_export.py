"""Every export format written, read back with the loader a user would use, and scored on the test split:
merged (transformers), adapter (peft), GGUF f16 / bf16 / q8_0 (transformers' gguf_file= loader), the Ollama
Modelfile and the vLLM folder. A tiny random-init Llama with a small BPE vocabulary keeps it to seconds."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving_helpers import tiny_run  # noqa: E402

from tunewright.serving.export import ExportSource, export_run  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    cfg, run, base = tiny_run(tmp_path_factory.mktemp("serving"))
    return ExportSource(cfg, run, str(base))


def _read_field(reader, key):
    f = reader.fields[key]
    return bytes(f.parts[f.data[0]]).decode("utf-8")


def test_merged_and_adapter_exports_reproduce_the_tuned_outputs(tmp_path, tiny):
    for fmt in ("merged", "adapter"):
        res = export_run(tiny, fmt, tmp_path / fmt)
        (v,) = res.verifications
        assert res.passed and v.passed and v.n == 8
        assert v.agreement == 1.0  # float32 weights: every greedy answer is the tuned run's answer
        assert v.value == pytest.approx(v.tuned)
        card = (tmp_path / fmt / "README.md").read_text()
        assert "license: apache-2.0" in card and "entity_f1" in card and "Forgetting" in card
        assert (tmp_path / fmt / "export.json").exists()
    exports = tiny.run.manifest()["exports"]
    assert [e["format"] for e in exports][-2:] == ["merged", "adapter"] and all(e["passed"] for e in exports)


def test_gguf_types_carry_tokenizer_and_template_and_score_like_the_tuned_model(tmp_path, tiny):
    import gguf
    from transformers import AutoTokenizer

    res = export_run(tiny, "gguf", tmp_path / "g")
    assert res.passed and [v.weights for v in res.verifications] == ["f16", "bf16", "q8_0"]
    for v in res.verifications:
        assert v.loader.startswith("transformers") and v.agreement >= 0.75, v
    q8 = res.verifications[2]
    assert q8.allowed_high - q8.allowed_low >= 0.01 - 1e-9  # q8_0 gets at least +-0.5 points
    tok = AutoTokenizer.from_pretrained(tiny.base_path)
    for t, qtype in (("f16", gguf.GGMLQuantizationType.F16), ("bf16", gguf.GGMLQuantizationType.BF16),
                     ("q8_0", gguf.GGMLQuantizationType.Q8_0)):
        r = gguf.GGUFReader(tmp_path / "g" / f"model-{t}.gguf")
        assert _read_field(r, "general.architecture") == "llama"
        assert _read_field(r, "tokenizer.chat_template") == tok.chat_template
        assert _read_field(r, "tokenizer.ggml.model") == "gpt2"
        types = {x.name: x.tensor_type for x in r.tensors}
        assert types["blk.0.attn_q.weight"] == qtype and types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
        assert "output.weight" not in types  # tied embeddings: llama.cpp reads token_embd
        assert len(r.fields["tokenizer.ggml.tokens"].data) == len(tok)


def test_gguf_written_without_the_qk_permutation_is_caught_by_reading_it_back(tmp_path, tiny, monkeypatch):
    """Reading the file back is what catches a layout bug: the same weights in the wrong Q/K order give other
    logits through transformers' gguf loader, the right order gives the merged model's logits."""
    import torch
    from transformers import AutoModelForCausalLM

    from tunewright.serving import gguf_file

    export_run(tiny, "gguf", tmp_path / "good", gguf_types=["f16"], verify=False)
    monkeypatch.setattr(gguf_file, "permute_qk", lambda w, n_head, n_kv: w)
    export_run(tiny, "gguf", tmp_path / "bad", gguf_types=["f16"], verify=False)
    merged = export_run(tiny, "merged", tmp_path / "m", verify=False)
    ids = torch.tensor([[5, 17, 42, 99, 120, 7, 64, 33]])
    with torch.no_grad():
        ref = AutoModelForCausalLM.from_pretrained(merged.path).eval()(ids).logits
        good, bad = (AutoModelForCausalLM.from_pretrained(tmp_path / d, gguf_file="model-f16.gguf").eval()(ids).logits
                     for d in ("good", "bad"))
    good_err, bad_err = (good - ref).abs().max().item(), (bad - ref).abs().max().item()
    # f16 rounding only vs a wrong attention layout (the random model's logits are ~0.2 in size, so both are small)
    assert good_err < 1e-3 and bad_err > 5 * good_err, (good_err, bad_err)


def test_ollama_modelfile_has_template_system_prompt_and_stops(tmp_path, tiny):
    res = export_run(tiny, "ollama", tmp_path / "o")
    assert res.passed and res.verifications[0].weights == "q8_0"
    mf = (tmp_path / "o" / "Modelfile").read_text()
    assert "FROM ./model-q8_0.gguf" in mf and "TEMPLATE" in mf and "<|im_start|>{{ .Role }}" in mf
    assert f'SYSTEM """{tiny.cfg.data.system_prompt}"""' in mf
    assert 'PARAMETER stop "<|im_end|>"' in mf
    assert res.details["modelfile"]["layout"] == "chatml"
    assert res.details["modelfile"]["template_checked_on_test_prompts"] == 8


def test_vllm_folder_lora_and_merged(tmp_path, tiny):
    lora = export_run(tiny, "vllm", tmp_path / "vl", vllm_mode="lora")
    assert lora.passed and "--enable-lora --lora-modules specialist=./adapter --max-lora-rank 8" in lora.serve_command
    assert (tmp_path / "vl" / "adapter" / "adapter_model.safetensors").exists()
    assert "--max-lora-rank 8" in (tmp_path / "vl" / "serve.sh").read_text()
    merged = export_run(tiny, "vllm", tmp_path / "vm")
    assert merged.passed and (tmp_path / "vm" / "model" / "model.safetensors").exists()
    assert merged.serve_command.startswith("vllm serve ./model")


def test_cli_export_keeps_the_adapter_flag_and_refuses_a_busy_folder(tmp_path, tiny, monkeypatch):
    from typer.testing import CliRunner

    from tunewright import pipeline
    from tunewright.cli import app

    monkeypatch.setattr(pipeline.Session, "model_ref", lambda self: pipeline.ResolvedModel(tiny.base_path, "tiny"))
    r = CliRunner().invoke(app, ["export", "--run", str(tiny.run.path), "--out", str(tmp_path / "a"), "--adapter"])
    assert r.exit_code == 0, r.output
    assert "exported adapter" in r.output and "verified" in r.output
    r = CliRunner().invoke(app, ["export", "--run", str(tiny.run.path), "--out", str(tmp_path / "a"), "--format", "gguf"])
    assert r.exit_code == 2 and "not empty" in r.output
