"""A tiny run for the serving tests: a byte-level BPE tokenizer of a few hundred tokens trained on the task's
own text (so a GGUF's metadata parses in a second, not the minute 49k SmolLM2 tokens take), SmolLM2's ChatML
chat template, a random-init Llama trained a few steps, and the run's tuned evaluation on the test split."""

from __future__ import annotations

from pathlib import Path

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def small_tokenizer(texts: list[str], vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tk.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tok.chat_template = CHATML
    return tok


def tiny_run(root: Path, overrides: list[str] = (), steps: int = 2):
    """(cfg, run, base_dir): a run directory with data/test.jsonl, model/ (LoRA adapter) and eval/tuned."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tiny_train import TINY_DEFAULTS, tiny_examples, tiny_llama

    from tunewright.config import config_to_dict
    from tunewright.pipeline import load_demo_config
    from tunewright.evaluation.evaluate import evaluate_model
    from tunewright.models import ResolvedModel, load_adapter_model, load_model
    from tunewright.project import create_run, write_json
    from tunewright.records import write_jsonl
    from tunewright.training.trainer import train_model

    cfg = load_demo_config(False, [*TINY_DEFAULTS, f"training.max_steps={steps}", "training.learning_rate=0.05",
                             "training.lora_dropout=0.0", "training.max_seq_tokens=192", "training.save_steps=100",
                             "task.max_test_examples=8", "task.max_new_tokens=16",
                             "task.batch_size=8", "general.enabled=false", "model.license=apache-2.0", *overrides])
    examples = tiny_examples(64)
    train, test = examples[:48], examples[48:56]
    tok = small_tokenizer([m["content"] for ex in examples for m in ex.to_chat(cfg.data.system_prompt)])
    base = root / "base"
    model = tiny_llama(len(tok), seed=cfg.training.seed, hidden=64)
    model.config.bos_token_id, model.config.eos_token_id = tok.bos_token_id, tok.eos_token_id
    with torch.no_grad():  # EOS logit 0 (tied embeddings): greedy answers of the random model are not empty
        model.get_input_embeddings().weight[tok.eos_token_id] = 0.0
    model.save_pretrained(base, safe_serialization=True)
    tok.save_pretrained(base)
    run = create_run(root / "runs", "tiny", config_to_dict(cfg), seeds={"split": 0, "training": cfg.training.seed})
    write_jsonl(run.data_dir / "train.jsonl", train)
    write_jsonl(run.data_dir / "test.jsonl", test)
    write_json(run.path / "train_result.json", train_model(cfg, run, train, model, tok).to_json())
    ref = ResolvedModel(str(base), str(base))
    evaluate_model(cfg, run, "base", load_model(ref, cfg.model), tok, test, [])
    evaluate_model(cfg, run, "tuned", load_adapter_model(ref, cfg.model, run.model_dir), tok, test, [])
    return cfg, run, base


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(app):
    """A real uvicorn on a free loopback port, in a thread: (server, thread, base URL of /v1)."""
    import threading
    import time

    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    return server, t, f"http://127.0.0.1:{port}/v1"
