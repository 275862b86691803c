"""Compact per-example columns the checks keep between batches: the "file:line" of every example and int64
columns grown batch by batch (a million-record audit holds a few bytes per example, not Python objects)."""

from __future__ import annotations

from array import array

import numpy as np


class Sources:
    """The "file:line" of every example, by index: a file id and a line number (12 bytes) when the source has
    that form and the file was seen before, the string itself otherwise."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self._file_id: dict[str, int] = {}
        self.fid, self.line = array("i"), array("q")  # fid -1: the string is in self.other
        self.other: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.fid)

    def extend(self, sources) -> None:
        for src in sources:
            name, _, line = src.rpartition(":")
            if name and line.isdigit() and line == str(int(line)):
                k = self._file_id.get(name)
                if k is None:
                    k = self._file_id[name] = len(self.files)
                    self.files.append(name)
                self.fid.append(k)
                self.line.append(int(line))
            else:
                self.other[len(self.fid)] = src
                self.fid.append(-1)
                self.line.append(0)

    def __getitem__(self, i: int) -> str:
        k = self.fid[i]
        return self.other[i] if k < 0 else f"{self.files[k]}:{self.line[i]}"


class IndexedInts:
    """An int per example index, set batch by batch (8 bytes each; a dict of ints costs ~12x more)."""

    def __init__(self) -> None:
        self.values = np.full(0, -1, np.int64)

    def set(self, start: int, values) -> None:
        values = np.asarray(values, dtype=np.int64)
        end = start + values.size
        if end > self.values.size:
            grown = np.full(max(end, 2 * self.values.size), -1, np.int64)
            grown[: self.values.size] = self.values
            self.values = grown
        self.values[start:end] = values

    def __contains__(self, i: int) -> bool:
        return 0 <= i < self.values.size and self.values[i] >= 0

    def __getitem__(self, i: int) -> int:
        return int(self.values[i])

    def __len__(self) -> int:
        return int((self.values >= 0).sum())

    def array(self, n: int) -> np.ndarray:
        """Values of indices 0..n-1, -1 where none was set."""
        out = np.full(n, -1, np.int64)
        m = min(n, self.values.size)
        out[:m] = self.values[:m]
        return out


class Int64Parts:
    """An int64 column grown batch by batch (8 bytes per example; a list of ints costs ~5x more)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def add(self, values) -> None:
        self.parts.append(np.asarray(values, dtype=np.int64))

    def array(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, np.int64)
