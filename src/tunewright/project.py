"""Project and run directories: the manifest, atomic writes and the run registry (SQLite)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import secrets
import sqlite3
import subprocess
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator
from tunewright.errors import MissingArtifact

PACKAGES = ["tunewright", "torch", "transformers", "peft", "accelerate", "datasets", "safetensors", "gguf", "pydantic"]


@contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[Any]:
    """A file to write in steps, at a temporary name in the same folder, renamed into place when the block
    ends without an exception: a crash never leaves half a file, and a failed block leaves the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner = f"{platform.node() or 'host'}.{os.getpid()}"
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{owner}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(out: Path) -> Iterator[Path]:
    """A folder to fill in steps: the block writes into a temporary folder beside ``out``, renamed to ``out``
    when the block ends without an exception (a crash or a failed check never leaves half an export). ``out``
    must be missing or empty."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporary files that a killed writer of ``path`` on this machine left behind (named
    ``.<name>.<host>.<pid>.*.tmp``; the pid no longer runs). A live writer's file is never touched."""
    host = platform.node() or "host"
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.{glob_escape(host)}.*.tmp"):
        pid = tmp.name[len(f".{path.name}.{host}."):].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:  # alive, another user's
            pass


def glob_escape(s: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in s)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    with atomic_file(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit(cwd: Path) -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


class Run:
    """One run directory: ``manifest.json``, ``data/``, ``model/``, ``metrics.jsonl``, ``report.*``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.manifest_path = self.path / "manifest.json"

    # -- layout ---------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def eval_dir(self) -> Path:
        return self.path / "eval"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def id(self) -> str:
        return self.path.name

    # -- manifest -------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            raise MissingArtifact(f"{self.path}: not a run directory (no manifest.json)")
        return read_json(self.manifest_path)

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        m = self.manifest()
        for k, v in fields.items():
            if isinstance(v, dict) and isinstance(m.get(k), dict):
                m[k].update(v)
            else:
                m[k] = v
        write_json(self.manifest_path, m)
        return m

    def record_artifact(self, stage: str, *paths: Path) -> None:
        m = self.manifest()
        arts = m.setdefault("artifacts", {})
        arts[stage] = sorted({*arts.get(stage, []), *(str(Path(p).relative_to(self.path)) for p in paths)})
        write_json(self.manifest_path, m)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage and record its duration (and failure) in the manifest and the registry."""
        t0 = time.perf_counter()
        self.update_manifest(status=f"running:{name}")
        try:
            yield
        except BaseException as e:
            self.update_manifest(status=f"failed:{name}", error=f"{type(e).__name__}: {e}"[:2000])
            raise
        finally:
            self.update_manifest(timings={name: round(time.perf_counter() - t0, 3)})
        self.update_manifest(status=f"done:{name}")

    def log_metric(self, row: dict[str, Any]) -> None:
        """Append one line to metrics.jsonl (append of a full line; readers skip a torn last line).

        A torn tail left by a killed process is cut off first, so that a resumed run's lines never follow
        a broken one."""
        if self.metrics_path.exists():
            with open(self.metrics_path, "r+b") as f:
                end = f.seek(0, os.SEEK_END)
                f.seek(max(0, end - 65536))  # a metrics row is far shorter than 64 KiB
                tail = f.read()
                if tail and not tail.endswith(b"\n"):
                    cut = tail.rfind(b"\n")
                    if cut >= 0 or end <= 65536:
                        f.truncate(end - len(tail) + cut + 1)
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def create_run(runs_dir: Path, name: str, config: dict[str, Any], seeds: dict[str, int], cwd: Path | None = None) -> Run:
    """Make a fresh run directory (never reusing one) with its manifest, and register it."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:40]
    while True:
        path = runs_dir / f"{stamp}-{safe}-{secrets.token_hex(3)}"
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    run = Run(path)
    write_json(
        run.manifest_path,
        {
            "run_id": run.id,
            "created": dt.datetime.now().isoformat(timespec="seconds"),
            "status": "created",
            "config": config,
            "seeds": seeds,
            "data_hashes": {},
            "packages": package_versions(),
            "git_commit": git_commit(cwd or Path.cwd()),
            "config_dir": str((cwd or Path.cwd()).resolve()),
            "timings": {},
            "artifacts": {},
        },
    )
    register_run(runs_dir, run)
    return run


def _registry(runs_dir: Path) -> sqlite3.Connection:
    con = sqlite3.connect(Path(runs_dir) / "registry.sqlite", timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(
        "CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, path TEXT NOT NULL, created TEXT NOT NULL,"
        " status TEXT NOT NULL, headline TEXT)"
    )
    return con


def register_run(runs_dir: Path, run: Run, status: str = "created", headline: dict | None = None) -> None:
    with _registry(runs_dir) as con:
        con.execute(
            "INSERT INTO runs (run_id, path, created, status, headline) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(run_id) DO UPDATE SET status=excluded.status, headline=excluded.headline",
            (run.id, str(run.path.resolve()), dt.datetime.now().isoformat(timespec="seconds"), status,
             json.dumps(headline) if headline else None),
        )


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    if not (Path(runs_dir) / "registry.sqlite").exists():
        return []
    with _registry(runs_dir) as con:
        rows = con.execute("SELECT run_id, path, created, status, headline FROM runs ORDER BY created").fetchall()
    return [
        {"run_id": r[0], "path": r[1], "created": r[2], "status": r[3], "headline": json.loads(r[4]) if r[4] else None}
        for r in rows
    ]


# -- which config and which run a command works on ---------------------------------------------------------
def project_config(config: Path | None = None, overrides: list[str] | None = None, run: Path | None = None):
    """The config a command works with.

    An explicit ``config`` file wins. Otherwise a stage on an existing run uses the config recorded in that
    run's manifest (so ``tunewright eval --run R`` evaluates what ``train`` trained), and a new run reads
    ``./tunewright.yaml`` when present, else the built-in defaults. ``overrides`` (``KEY=VALUE``) go on top.
    """
    from tunewright.config import Config, ConfigError, apply_overrides, load_config

    from pydantic import ValidationError

    if config is None and run is not None:
        m = Run(run).manifest()
        try:
            cfg = Config.model_validate(apply_overrides(m["config"], list(overrides or [])))
        except ValidationError as e:
            raise ConfigError(f"{Run(run).manifest_path}: recorded config with overrides is invalid: {e}") from None
        cfg.base_dir = Path(m.get("config_dir", Path.cwd()))
        return cfg
    if config is None and Path("tunewright.yaml").exists():
        config = Path("tunewright.yaml")
    return load_config(config, overrides)


def runs_root(cfg) -> Path:
    """The folder holding one directory per run (``project.runs_dir``, relative to the config)."""
    return Path(cfg.resolve(cfg.project.runs_dir))


def new_run(cfg) -> Run:
    """A fresh run directory for ``cfg``, with its manifest (config, seeds, versions, commit)."""
    from tunewright.config import config_to_dict

    return create_run(runs_root(cfg), cfg.project.name, config_to_dict(cfg),
                      seeds={"split": cfg.split.seed, "training": cfg.training.seed}, cwd=cfg.base_dir)


def open_run(cfg, path: Path | None) -> Run:
    """The run at ``path`` (which must have a manifest), or a new run when ``path`` is None."""
    if path is None:
        return new_run(cfg)
    run = Run(path)
    run.manifest()  # MissingArtifact when it is not a run directory
    return run
