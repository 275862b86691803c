"""Label Studio JSON and Argilla records: export the review queue with its suggestions and judgments, and
import judgments made there back into the store (as reviewers ``labelstudio:<user>`` / ``argilla:<user>``).
Judgments exported from this store carry ``tunewright_judgment_id`` and are not imported back.

Entities travel as character spans (Label Studio ``labels`` results, Argilla ``SpanQuestion`` values); each
``NAME - TYPE`` is located in the text in order of appearance. Re-importing a file adds nothing twice: the
form key of an imported judgment is derived from the source record and user.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunewright.review.labels import find_name, label_checker
from tunewright.review.store import Store
from tunewright.errors import InputError

FROM_NAME, TO_NAME = "label", "text"


def _spans(text: str, ents: list[tuple[str, str]]) -> list[dict]:
    """Character spans of entities in order: each is searched from the end of the previous one."""
    out, pos = [], 0
    for name, etype in ents:
        m = find_name(text, name, pos) or find_name(text, name)
        if m is None:
            raise ValueError(f"entity {name!r} does not occur in the text")
        out.append({"start": m.start(), "end": m.end(), "text": name, "label": etype})
        pos = m.end()
    return out


class Codec:
    """Answer string <-> structured value for the task: entity spans or a class label."""

    def __init__(self, cfg):
        from tunewright.evaluation.tasks import make_task, task_type

        self.span = task_type(cfg.task).label_kind == "span"
        self.empty = cfg.task.empty_answer
        if self.span:
            self.task = make_task(cfg.task)

    def to_value(self, text: str, answer: str):
        if not self.span:
            return answer
        ents = self.task.parse(answer)
        if ents is None:
            raise ValueError(f"answer {answer[:80]!r} does not parse")
        return _spans(text, ents)

    def from_spans(self, spans: list[dict]) -> str:
        ents = sorted(spans, key=lambda s: s["start"])
        return "[" + ", ".join(f"{s['text']} - {s['label']}" for s in ents) + "]" if ents else self.empty


# -- Label Studio ------------------------------------------------------------------------------------------
def _ls_result(codec: Codec, text: str, answer: str) -> list[dict]:
    if not codec.span:
        return [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [answer]}}]
    return [{"from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
             "value": {"start": s["start"], "end": s["end"], "text": s["text"], "labels": [s["label"]]}}
            for s in codec.to_value(text, answer)]


def _readable(convert, problems: list | None, it, j=None):
    """``convert()``, or None after noting in ``problems`` why this stored label does not convert: one bad
    row (a store written before labels were checked) must not sink the whole export."""
    try:
        return convert()
    except ValueError as e:
        if problems is None:
            raise
        problems.append({"example_id": it.example_id, "judgment_id": None if j is None else j.id,
                         "reviewer": None if j is None else j.reviewer, "reason": str(e)})
        return None


def _checked(check, label: str, it, where: str) -> str:
    """An imported label passes the same check as one typed in the app, or the import stops naming it."""
    c = check(label, it.text)
    if c.error:
        raise ValueError(f"{where}: {c.error}")
    return c.label


def _by_item(store: Store) -> dict[int, list]:
    by_item: dict[int, list] = {}
    for j in store.judgments():
        by_item.setdefault(j.item_id, []).append(j)
    return by_item


def export_label_studio(store: Store, cfg, path: Path, problems: list | None = None) -> int:
    """Every item as a Label Studio task. With ``problems`` (a list), a stored label that does not convert is
    left out and described there instead of failing the export."""
    codec = Codec(cfg)
    by_item = _by_item(store)
    tasks = []
    for it in store.items():
        ev = json.loads(it.evidence_json or "{}")
        anns = []
        for j in by_item.get(it.id, []):
            res = [] if j.after is None else _readable(lambda: _ls_result(codec, it.text, j.after), problems, it, j)
            if res is not None:
                anns.append({"id": j.id, "completed_by": j.reviewer, "tunewright_judgment_id": j.id,
                             "created_at": j.created_at, "was_cancelled": j.action == "skip", "result": res,
                             "tunewright_supersedes": j.supersedes})
        pred = _readable(lambda: _ls_result(codec, it.text, it.suggested), problems, it)
        tasks.append({
            "id": it.id,
            "data": {"text": it.text, "example_id": it.example_id},
            "predictions": [] if pred is None else [{"model_version": "tunewright-label-model",
                                                     "score": ev.get("confidence"), "result": pred}],
            "annotations": anns,
        })
    path.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(tasks)


def import_label_studio(store: Store, cfg, path: Path) -> int:
    """Annotations of a Label Studio export become judgments on the items with the same example_id."""
    codec, check = Codec(cfg), label_checker(cfg)
    items = {it.example_id: it for it in store.items()}
    tasks = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(tasks, list):
        raise InputError(f"{path}: a Label Studio export is a JSON list of tasks")
    added = 0
    for t_i, task in enumerate(tasks):
        ex_id = (task.get("data") or {}).get("example_id")
        if ex_id not in items:
            raise InputError(f"{path}: task [{t_i}] (id {task.get('id')}): data.example_id {ex_id!r} is not in the "
                             "review queue")
        it = items[ex_id]
        for a in task.get("annotations", []):
            if "tunewright_judgment_id" in a:
                continue  # exported from this store: already a judgment here
            user = str(a.get("completed_by", "unknown"))
            if a.get("was_cancelled"):
                action, after = "skip", None
            elif codec.span:
                after = codec.from_spans([{"start": r["value"]["start"], "text": r["value"]["text"],
                                           "label": r["value"]["labels"][0]} for r in a.get("result", [])
                                          if r.get("type") == "labels"])
            else:
                ch = [r["value"]["choices"][0] for r in a.get("result", []) if r.get("type") == "choices"]
                if not ch:
                    raise InputError(f"{path}: task [{t_i}]: annotation {a.get('id')} has no choices result")
                after = ch[0]
            if not a.get("was_cancelled"):
                after = _checked(check, after, it, f"{path}: task [{t_i}] (id {task.get('id')}) annotation {a.get('id')}")
                action = "accept" if after == it.suggested else "correct"
            rec = store.record_judgment(it.id, f"labelstudio:{user}", action, after,
                                        f"ls:{task.get('id')}:{a.get('id')}:{user}"[:64])
            added += rec.created
    return added


# -- Argilla -----------------------------------------------------------------------------------------------
def export_argilla(store: Store, cfg, path: Path, problems: list | None = None) -> int:
    """Argilla (v2) records as JSON lines: fields.text, a suggestion from the label model, responses (the
    current judgment of each reviewer: Argilla keeps one response per user). ``problems`` as for Label Studio."""
    codec = Codec(cfg)
    by_item = _by_item(store)
    superseded = {j.supersedes for js in by_item.values() for j in js if j.supersedes is not None}
    lines = []
    for it in store.items():
        ev = json.loads(it.evidence_json or "{}")
        responses = []
        for j in by_item.get(it.id, []):
            if j.id in superseded:
                continue
            value = None if j.after is None else _readable(lambda: codec.to_value(it.text, j.after), problems, it, j)
            if j.after is None or value is not None:
                responses.append({"question_name": FROM_NAME, "user_id": j.reviewer, "tunewright_judgment_id": j.id,
                                  "status": "discarded" if j.action == "skip" else "submitted", "value": value})
        sugg = _readable(lambda: codec.to_value(it.text, it.suggested), problems, it)
        lines.append(json.dumps({
            "id": it.example_id,
            "fields": {"text": it.text},
            "metadata": {"item_id": it.id, "source": it.source},
            "suggestions": [] if sugg is None else [{"question_name": FROM_NAME, "value": sugg,
                                                     "score": ev.get("confidence"), "agent": "tunewright-label-model"}],
            "responses": responses,
        }, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def import_argilla(store: Store, cfg, path: Path) -> int:
    codec, check = Codec(cfg), label_checker(cfg)
    items = {it.example_id: it for it in store.items()}
    added = 0
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = json.loads(line)
        if rec.get("id") not in items:
            raise InputError(f"{path}:{n}: id {rec.get('id')!r} is not in the review queue")
        it = items[rec["id"]]
        for r in rec.get("responses", []):
            if "tunewright_judgment_id" in r:
                continue  # exported from this store: already a judgment here
            user = str(r.get("user_id", "unknown"))
            if r.get("status") == "discarded" or r.get("value") is None:
                action, after = "skip", None
            else:
                after = codec.from_spans(r["value"]) if codec.span else str(r["value"])
                after = _checked(check, after, it, f"{path}:{n}: response of {user}")
                action = "accept" if after == it.suggested else "correct"
            rec_ = store.record_judgment(it.id, f"argilla:{user}", action, after, f"ar:{rec['id']}:{user}"[:64])
            added += rec_.created
    return added
