"""A bounded, seeded hypothesis run over every reader (JSONL chat / evals / prompt-completion, CSV, Parquet):
random records with wrong types and duplicated keys, deep nesting, huge lines, mixed encodings, byte
mutations and truncation. The invariants are in tests/reader_fuzz.py; benchmarks/reader_fuzz runs longer."""

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from reader_fuzz import FORMATS, check_reader

RUN = settings(max_examples=60, derandomize=True, deadline=None, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_readers_keep_their_invariants_on_messy_bytes(fmt):
    strategy, suffix = FORMATS[fmt]

    @RUN
    @given(strategy())
    def one(data: bytes):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"data{suffix}"
            path.write_bytes(data)
            check_reader(path, fmt)

    one()
