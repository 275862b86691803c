"""Chat examples to token ids with completion-only labels.

The model's own chat template renders the conversation. Only assistant turns are trained: every prompt,
system and user token carries label -100. The template is rendered incrementally, so a turn's tokens are
``render(messages[:i+1])`` minus ``render(messages[:i], add_generation_prompt=True)``; a template that is
not prefix-consistent that way is reported as an error rather than mis-masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tunewright.errors import InputError

IGNORE_INDEX = -100


class TemplateError(InputError):
    pass


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def encode_chat(tokenizer, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Return (input_ids, labels) where labels are -100 everywhere but on assistant turns."""
    ids: list[int] = []
    labels: list[int] = []
    done = ""  # text already encoded
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt_text = render(tokenizer, messages[:i], add_generation_prompt=True)
        full_text = render(tokenizer, messages[: i + 1])
        if not prompt_text.startswith(done) or not full_text.startswith(prompt_text):
            raise TemplateError("chat template is not prefix-consistent; cannot mask prompt tokens exactly")
        p = tokenizer(prompt_text[len(done):], add_special_tokens=False)["input_ids"]
        a = tokenizer(full_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
        ids += p + a
        labels += [IGNORE_INDEX] * len(p) + a
        done = full_text
    if not ids:
        raise TemplateError("conversation has no assistant turn to train on")
    return ids, labels


def prompt_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a prompt ready for generation (everything but the final answer)."""
    text = render(tokenizer, messages, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class EncodedSet:
    rows: list[dict[str, list[int]]]
    truncated: int  # examples cut at max_seq_tokens
    dropped: int  # examples over max_seq_tokens with overlong=drop, or with no answer token left after a cut
    tokens: int  # real tokens (no pad)
    trained_tokens: int  # tokens with a label


def encode_examples(tokenizer, chats: list[list[dict[str, str]]], max_seq_tokens: int,
                    overlong: str = "truncate") -> EncodedSet:
    """Encode every chat; an example over ``max_seq_tokens`` is cut (``truncate``) or dropped (``drop``), and
    counted either way. A cut example that has no answer token left is dropped too (and counted)."""
    rows, truncated, dropped, tokens, trained = [], 0, 0, 0, 0
    for msgs in chats:
        ids, labels = encode_chat(tokenizer, msgs)
        if len(ids) > max_seq_tokens:
            if overlong == "drop":
                dropped += 1
                continue
            truncated += 1
            ids, labels = ids[:max_seq_tokens], labels[:max_seq_tokens]
        n_trained = sum(1 for x in labels if x != IGNORE_INDEX)
        if n_trained == 0:
            dropped += 1
            continue
        rows.append({"input_ids": ids, "labels": labels})
        tokens += len(ids)
        trained += n_trained
    return EncodedSet(rows, truncated, dropped, tokens, trained)


class PadCollator:
    """Pad to the longest row of the batch; pad positions get attention 0 and label -100."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            labels[i, :n] = torch.tensor(b["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
