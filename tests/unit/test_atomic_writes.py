"""A SIGKILL or a full disk while the audit's second pass, curation or a split writes leaves no half-written
clean / curated / split file (the previous one, or none), and a rerun succeeds (issue 16).

The kill is real: a child process runs the stage and is SIGKILLed once it has written some rows of the
target file (it signals through a marker file and waits). The full disk is a real tmpfs of a few KiB where
this machine lets us mount one, and otherwise a file object whose write raises ENOSPC. Both go through the
real ``tunewright.project.atomic_file``; only the file object it yields is wrapped."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import chat, write_lines

# the file each stage is stopped in; the split writes train, validation, test: stopping in the last one checks
# that the three are renamed together
STAGES = {"audit": "clean.jsonl", "curate": "curated.jsonl", "split": "test.jsonl"}


def _data(tmp_path: Path, n: int = 600) -> Path:
    return write_lines(tmp_path / "in.jsonl", [chat(f"question number {i} about clause {i * 7}", f"answer {i}")
                                               for i in range(n)])


def _overrides(data: Path) -> list[str]:
    return [f"data.train_files=[{data}]", "audit.min_usable_fraction=0", "general.enabled=false",
            "audit.gate.fail={}", "audit.checks=[format, exact_duplicate, near_duplicate]"]


def run_stage(stage: str, data: Path, out: Path) -> None:
    from tunewright.config import load_config
    from tunewright.data.audit import audit_data
    from tunewright.data.curate import curate_data
    from tunewright.data.split import split_examples, write_split
    from tunewright.records import read_examples

    cfg = load_config(None, _overrides(data))
    if stage == "audit":
        audit_data(cfg, out)
    elif stage == "curate":
        curate_data(cfg, out)
    else:
        clean = read_examples(out / "clean.jsonl") if (out / "clean.jsonl").exists() else None
        if clean is None:
            audit_data(cfg, out)
            clean = read_examples(out / "clean.jsonl")
        write_split(split_examples(clean, cfg.split), out)


def _hashes(out: Path) -> dict[str, str]:
    """The data files (audit.json carries timings) and any temporary file left behind."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())
            if p.is_file() and (p.suffix in (".jsonl", ".parquet") or p.name.startswith("."))}


def _no_half_files(out: Path) -> None:
    """Every visible artifact is complete: JSONL parses to its last line, Parquet has its footer."""
    for p in out.iterdir():
        if p.name.startswith("."):
            continue  # a killed process's temporary file: never read by anything
        if p.suffix == ".jsonl":
            text = p.read_text(encoding="utf-8")
            assert text == "" or text.endswith("\n"), p
            [json.loads(x) for x in text.splitlines()]
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.read_table(p)


CHILD = textwrap.dedent("""
    import sys, time, contextlib
    from pathlib import Path
    sys.path[:0] = [sys.argv[5], str(Path(sys.argv[5]).parent)]
    import tunewright.project as project
    from test_atomic_writes import run_stage
    real, target, marker = project.atomic_file, sys.argv[4], Path(sys.argv[6])

    class Slow:  # the real file object; after 20 writes to the target it signals and stalls
        def __init__(self, f):
            self.f, self.n = f, 0
        def write(self, data):
            self.n += 1
            if self.n == 20:
                self.f.flush()
                marker.write_text("writing")
                time.sleep(120)
            return self.f.write(data)
        def __getattr__(self, k):
            return getattr(self.f, k)

    @contextlib.contextmanager
    def atomic_file(path, mode="wb"):
        with real(path, mode) as f:
            yield Slow(f) if Path(path).name == target else f

    project.atomic_file = atomic_file
    run_stage(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
""")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_sigkill_mid_write_leaves_the_old_file_and_a_rerun_succeeds(tmp_path, stage):
    data, out = _data(tmp_path), tmp_path / "out"
    run_stage(stage, data, out)  # a complete earlier run: its files must survive the killed one
    before = _hashes(out)
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", CHILD, stage, str(data), str(out), STAGES[stage],
                              str(Path(__file__).parent), str(marker)], env=env, cwd=tmp_path)
    try:
        deadline = time.time() + 240
        while not marker.exists():
            assert child.poll() is None, "the child ended before writing the target"
            assert time.time() < deadline, "the child never reached the target file"
            time.sleep(0.05)
        assert any(p.name.startswith(f".{STAGES[stage]}.") for p in out.iterdir())  # mid-write, for real
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    _no_half_files(out)
    after = {k: v for k, v in _hashes(out).items() if not k.startswith(".")}
    assert after == before  # the old files, whole (for the split: all three old, none new)
    run_stage(stage, data, out)  # a rerun succeeds, writes the same and clears the killed run's temporaries
    assert _hashes(out) == before


def _tiny_tmpfs(path: Path, size: str) -> bool:
    path.mkdir()
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


class FullDisk:
    """A file object whose writes fail with ENOSPC once ``budget`` bytes have been written."""

    def __init__(self, f, budget: int):
        self.f, self.left = f, budget

    def write(self, data):
        self.left -= len(data)
        if self.left < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(data)

    def __getattr__(self, k):
        return getattr(self.f, k)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_full_disk_mid_write_leaves_the_old_file_and_a_rerun_succeeds(tmp_path, stage, monkeypatch):
    import tunewright.project as project

    data, out = _data(tmp_path), tmp_path / "out"
    run_stage(stage, data, out)
    before = _hashes(out)
    real = project.atomic_file

    @contextlib.contextmanager
    def failing(path, mode="wb"):
        with real(path, mode) as f:
            yield FullDisk(f, 1000) if Path(path).name == STAGES[stage] else f

    monkeypatch.setattr(project, "atomic_file", failing)
    with pytest.raises(OSError) as e:
        run_stage(stage, data, out)
    assert e.value.errno == errno.ENOSPC
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the temporary file was removed
    _no_half_files(out)
    assert _hashes(out) == before
    monkeypatch.setattr(project, "atomic_file", real)
    run_stage(stage, data, out)
    assert _hashes(out) == before


def test_a_real_full_disk_leaves_no_file(tmp_path):
    disk = tmp_path / "disk"
    if not _tiny_tmpfs(disk, "96k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        data, out = _data(tmp_path, 3000), disk / "out"  # clean.jsonl alone needs ~400 KB
        with pytest.raises(OSError) as e:
            run_stage("audit", data, out)
        assert e.value.errno == errno.ENOSPC
        assert not (out / "clean.jsonl").exists() and not [p for p in out.iterdir() if p.name.startswith(".")]
        run_stage("audit", data, tmp_path / "roomy")  # the same input where there is room
        used = json.loads((tmp_path / "roomy" / "audit.json").read_text())["used"]
        assert (tmp_path / "roomy" / "clean.jsonl").read_text().count("\n") == used > 0
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_atomic_dir_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    from tunewright.project import atomic_dir

    out = tmp_path / "exports" / "merged"
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as tmp:
            (tmp / "model.safetensors").write_bytes(b"half")
            raise RuntimeError("verification failed")
    assert not out.exists() and list(out.parent.iterdir()) == []  # no folder, no temporary left behind
    with atomic_dir(out) as tmp:
        (tmp / "model.safetensors").write_bytes(b"whole")
    assert (out / "model.safetensors").read_bytes() == b"whole" and list(out.parent.iterdir()) == [out]
    with pytest.raises(FileExistsError, match="not empty"):
        with atomic_dir(out):
            pass
    assert (out / "model.safetensors").read_bytes() == b"whole"
