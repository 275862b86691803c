"""The structural checks: the chat's shape (schema), exact copies, and one input with different answers."""

from __future__ import annotations

import numpy as np

from tunewright.data.checks import BatchCheck, Check, CheckContext, Verdict, register_check
from tunewright.data.columns import Int64Parts
from tunewright.data.keys import key64, normalized_answer, normalized_example_key, normalized_input
from tunewright.records import Example


@register_check("schema", default=True, order=0)
class SchemaCheck(Check):
    """Chat structure: optional system first, then user/assistant alternating, ending with assistant; no empty turn."""

    def run(self, examples: list[Example], ctx: CheckContext) -> list[Verdict]:
        out = []
        for i_ex, ex in enumerate(examples):
            msgs = ex.to_chat(ctx.system_prompt)
            body = msgs[1:] if msgs and msgs[0]["role"] == "system" else msgs
            problem = ""
            for i, m in enumerate(body):
                want = "user" if i % 2 == 0 else "assistant"
                if m["role"] != want:
                    problem = f"turn {i}: expected {want}, got {m['role']}"
                    break
                if not m["content"].strip():
                    problem = f"turn {i} ({m['role']}) is empty"
                    break
            if not problem and (not body or body[-1]["role"] != "assistant"):
                problem = "conversation does not end with an assistant answer"
            out.append(Verdict(i_ex, not problem, "schema" if problem else "", 1.0, problem))
        return out


@register_check("exact_duplicate", default=True, order=2)
class ExactDuplicateCheck(BatchCheck):
    """The same example again (after the configured system prompt and normalization): the first copy is kept."""

    def __init__(self) -> None:
        self.keys = Int64Parts()

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        # identity of the example as it will be trained: the chat after the system prompt is applied, each turn
        # normalized (NFKC, whitespace, case), so copies that differ only in spacing or Unicode form are caught
        self.keys.add([key64(normalized_example_key(ex, ctx.system_prompt)) for ex in batch])
        return []

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        keys = self.keys.array()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)  # first: earliest index
        firsts = first[inverse]
        later = np.flatnonzero(firsts != np.arange(keys.size))
        return [Verdict(i, not ctx.drop_exact_duplicates, "exact_duplicate", 1.0, f"same as {ctx.sources[f]}")
                for i, f in zip(later.tolist(), firsts[later].tolist())]


@register_check("conflicting_duplicate", default=True, order=3)
class ConflictingDuplicateCheck(BatchCheck):
    """The same input with different answers (both compared after normalization): nobody knows which is
    right, so every member is flagged."""

    def __init__(self) -> None:
        self.inputs, self.answers = Int64Parts(), Int64Parts()

    def observe(self, batch: list[Example], start: int, ctx: CheckContext) -> list[Verdict]:
        self.inputs.add([key64(normalized_input(ex)) for ex in batch])
        self.answers.add([key64(normalized_answer(ex)) for ex in batch])
        return []

    def finish(self, ctx: CheckContext) -> list[Verdict]:
        inp, ans = self.inputs.array(), self.answers.array()
        pairs = np.unique(np.stack([inp, ans], axis=1), axis=0) if inp.size else np.zeros((0, 2), np.int64)
        groups, n_answers = np.unique(pairs[:, 0], return_counts=True)
        conflicted = groups[n_answers > 1]
        if conflicted.size == 0:
            return []
        members = np.flatnonzero(np.isin(inp, conflicted))  # input order
        by_input: dict[int, list[int]] = {}
        for i in members.tolist():
            by_input.setdefault(int(inp[i]), []).append(i)
        count = dict(zip(groups.tolist(), n_answers.tolist()))
        out = []
        for key, ms in by_input.items():
            where = ", ".join(ctx.sources[i] for i in ms[:5])
            for i in ms:
                out.append(Verdict(i, not ctx.drop_conflicts, "conflicting_duplicate", 1.0,
                                   f"{count[key]} different answers for one input at {where}"))
        out.sort(key=lambda v: v.index)
        return out
