"""Bounded load test of tunewright serve on loopback: N concurrent clients against a real uvicorn, the tiny
random-init Llama of the serving tests behind it (one set of weights: specialist and generalist). Each reply is
checked against the single-client reply of the same prompt and model (greedy decoding).

    python benchmarks/serve_load/run.py [--clients 8] [--rounds 3] [--max-tokens 16]

Writes benchmarks/serve_load/results-<date>.json (with the load average: timings on a shared machine are provisional).
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
sys.path.insert(0, str(HERE.parents[1] / "src"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=16)
    a = ap.parse_args()
    from peft import PeftModel
    from serving_helpers import start_server, tiny_run  # the same run and server as the e2e test
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunewright.serving.endpoint import ServeSettings, create_app
    from tunewright.serving.engine import Engine, Limits
    from tunewright.serving.loadtest import run_load

    root = Path(tempfile.mkdtemp(prefix="serve_load_"))
    cfg, run, base = tiny_run(root)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(run.model_dir)).eval()
    engine = Engine(model, AutoTokenizer.from_pretrained(base), cfg.data.system_prompt, Limits(max_tokens=64))
    server, thread, url = start_server(create_app(engine, ServeSettings()))
    prompts = ["Acme Corp borrows from Barclays Bank.", "John Smith signs in New York.",
               "The Guarantor, Beta LLC, is located in Delaware.", "No entities here at all."]
    load_before = os.getloadavg()
    t0 = time.time()
    res = asyncio.run(run_load(url, prompts, clients=a.clients, rounds=a.rounds, max_tokens=a.max_tokens))
    server.should_exit = True
    thread.join(10)
    out = {"date": time.strftime("%Y-%m-%d"), "model": "tiny random-init Llama (hidden 64, 2 layers, 512-token BPE)",
           "prompts": len(prompts), "models": ["specialist", "generalist"], "max_tokens": a.max_tokens,
           "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "seconds": round(time.time() - t0, 1),
           "note": "busy shared 2-core machine: timings provisional", **res.to_json()}
    (HERE / f"results-{out['date']}.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0 if res.failed == 0 and res.mismatched == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
