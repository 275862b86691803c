import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


class ToyTokenizer:
    """A whitespace tokenizer with a ChatML-like template: enough for audit and split unit tests."""

    pad_token_id = 0
    eos_token_id = 1

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        text = "".join(f"<{m['role']}> {m['content']} </s> " for m in messages)
        return text + ("<assistant> " if add_generation_prompt else "")

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [hash(w) % 1000 + 2 for w in text.split()]}


@pytest.fixture
def toy_tokenizer():
    return ToyTokenizer()


@pytest.fixture(scope="session")
def smol_ref():
    """The real SmolLM2-135M-Instruct, converted once from GGUF to safetensors."""
    from tunewright.config import ModelSection
    from tunewright.models import resolve_model

    return resolve_model(ModelSection())


@pytest.fixture(scope="session")
def smol_tokenizer(smol_ref):
    from tunewright.config import ModelSection
    from tunewright.models import load_tokenizer

    return load_tokenizer(smol_ref, ModelSection())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smol_tokenizer):
    """A random-init two-layer Llama with the real SmolLM2 tokenizer, saved as a local safetensors model: the
    whole pipeline runs on it in seconds (studies, selection, export tests)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_train import tiny_llama

    d = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(len(smol_tokenizer)).save_pretrained(d, safe_serialization=True)
    smol_tokenizer.save_pretrained(d)
    return d


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="session")
def pg_url():
    """A throwaway PostgreSQL cluster on loopback (started as the postgres user when run as root); skipped with
    the reason where the server binaries or psycopg are missing (.ci/run installs both on Debian)."""
    pytest.importorskip("psycopg")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    root = os.geteuid() == 0
    if root and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as a non-root user")
    # a folder of its own outside pytest's root-only tmp tree, so the postgres user can reach it
    data = Path(tempfile.mkdtemp(prefix="tw-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if root else []
    if root:
        shutil.chown(data, "postgres")
    from review_helpers import free_port

    port = free_port()
    for cmd in ([f"{bindir}/initdb", "-D", str(data / "db"), "-A", "trust", "-U", "tw"],
                [f"{bindir}/pg_ctl", "-D", str(data / "db"), "-w", "-l", str(data / "log"), "-o",
                 f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=on", "start"]):
        r = subprocess.run([*as_user, *cmd], capture_output=True, text=True)
        assert r.returncode == 0, f"{cmd[0]} failed: {r.stdout}{r.stderr}"
    yield f"postgresql+psycopg://tw@127.0.0.1:{port}/postgres"
    subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", str(data / "db"), "-m", "immediate", "stop"],
                   capture_output=True)
    shutil.rmtree(data, ignore_errors=True)
