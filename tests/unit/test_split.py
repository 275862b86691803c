from tunewright.config import SplitSection
from tunewright.data.split import split_examples
from tunewright.records import Example


def make(n_unique: int, dup_every: int = 5) -> list[Example]:
    out = []
    for i in range(n_unique):
        msgs = [{"role": "user", "content": f"sentence {i}"}, {"role": "assistant", "content": f"answer {i}"}]
        out.append(Example(messages=msgs, source=f"f:{i}"))
        if i % dup_every == 0:  # an exact copy and a conflicting copy of the same input
            out.append(Example(messages=msgs, source=f"f:{i}b"))
            out.append(Example(messages=[msgs[0], {"role": "assistant", "content": "other"}], source=f"f:{i}c"))
    return out


def test_split_is_deterministic_and_complete():
    ex = make(200)
    a = split_examples(ex, SplitSection(seed=1))
    b = split_examples(list(reversed(ex)), SplitSection(seed=1))
    ids = lambda r: {n: sorted(e.source for e in getattr(r, n)) for n in ("train", "validation", "test")}  # noqa: E731
    assert ids(a) == ids(b)  # input order does not matter
    assert sum(a.counts().values()) == len(ex)
    c = split_examples(ex, SplitSection(seed=2))
    assert ids(a) != ids(c)


def test_same_input_never_straddles_splits():
    ex = make(300, dup_every=3)
    r = split_examples(ex, SplitSection(seed=7, test_fraction=0.2, validation_fraction=0.1))
    where = {}
    for name in ("train", "validation", "test"):
        for e in getattr(r, name):
            where.setdefault(e.input_key(), set()).add(name)
    assert all(len(s) == 1 for s in where.values())
    n = len(ex)
    assert abs(len(r.test) - 0.2 * n) <= 3 and abs(len(r.validation) - 0.1 * n) <= 3


def test_given_test_set_only_carves_validation():
    ex = make(50)
    test = [Example(prompt="held out", completion="x")]
    r = split_examples(ex, SplitSection(seed=1, validation_fraction=0.1), test=test)
    assert r.test == test and len(r.train) + len(r.validation) == len(ex)


def test_read_split_reads_what_write_split_wrote(tmp_path):
    import pytest

    from tunewright.data.split import read_split, write_split
    from tunewright.project import Run

    run = Run(tmp_path / "run")
    result = split_examples(make(40), SplitSection(seed=3))
    write_split(result, run.data_dir)
    for name in ("train", "validation", "test"):
        assert [e.id for e in read_split(run, name)] == [e.id for e in getattr(result, name)]
    with pytest.raises(ValueError, match="split must be one of"):
        read_split(run, "dev")
    (run.data_dir / "test.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="test.jsonl: missing; run 'tunewright split'"):
        read_split(run, "test")
