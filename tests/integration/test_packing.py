"""Packing: a packed row trains exactly what the separate examples would, and no token sees another example."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_train import tiny_llama  # noqa: E402

from tunewright.training.formats import encode_chat  # noqa: E402
from tunewright.training.packing import (  # noqa: E402
    VARLEN_ATTENTION, PackedCollator, SelectivePadCollator, packing_is_exact, register_varlen_attention,
)

CHATS = [
    [{"role": "user", "content": "Entities in: Acme Bank lends to Foo Inc."},
     {"role": "assistant", "content": "Acme Bank - ORGANIZATION\nFoo Inc. - ORGANIZATION"}],
    [{"role": "user", "content": "Entities in: nothing here"}, {"role": "assistant", "content": "No entities found"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"},
     {"role": "assistant", "content": "hi"}],
]


@pytest.fixture(scope="module")
def rows(smol_tokenizer):
    out = []
    for c in CHATS:
        ids, labels = encode_chat(smol_tokenizer, c)
        out.append({"input_ids": ids, "labels": labels})
    return out


@pytest.fixture(scope="module")
def model(smol_tokenizer):
    register_varlen_attention()
    m = tiny_llama(len(smol_tokenizer), seed=3, hidden=64)
    m.set_attn_implementation(VARLEN_ATTENTION)
    return m.eval()


def _loss(model, batch):
    batch = dict(batch)
    targets = batch.pop("shift_labels")
    logits = model(**batch).logits.float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets, reduction="sum"), targets.numel()


@torch.no_grad()
def test_packed_loss_equals_the_separate_examples_losses(model, rows):
    packed_sum, packed_n = _loss(model, PackedCollator()(rows))
    sums, counts = [], []
    for r in rows:  # each example alone, loss computed by transformers itself (full logits, shifted labels)
        out = model(input_ids=torch.tensor([r["input_ids"]]), labels=torch.tensor([r["labels"]]))
        n = sum(1 for x in r["labels"][1:] if x != -100)
        sums.append(out.loss * n)
        counts.append(n)
    assert packed_n == sum(counts)
    # packed token-mean loss == token-weighted mean of the per-example mean losses
    torch.testing.assert_close(packed_sum / packed_n, sum(sums) / sum(counts), rtol=1e-5, atol=1e-5)
    # and each example's share of the packed loss is its own loss
    batch = PackedCollator()(rows)
    targets = batch.pop("shift_labels")
    logits = model(**batch).logits.float()
    token_losses = F.cross_entropy(logits, targets, reduction="none")
    start = 0
    for s, n in zip(sums, counts):
        torch.testing.assert_close(token_losses[start:start + n].sum(), s, rtol=1e-4, atol=1e-4)
        start += n


@torch.no_grad()
def test_padded_selective_loss_matches_too(model, rows, smol_tokenizer):
    pad_sum, pad_n = _loss(model, SelectivePadCollator(smol_tokenizer.pad_token_id)(rows))
    packed_sum, packed_n = _loss(model, PackedCollator()(rows))
    assert pad_n == packed_n
    torch.testing.assert_close(pad_sum, packed_sum, rtol=1e-4, atol=1e-3)


@torch.no_grad()
def test_no_token_attends_across_an_example_boundary(model, rows):
    batch = PackedCollator()(rows)
    base = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                 cu_seq_lens_q=batch["cu_seq_lens_q"], cu_seq_lens_k=batch["cu_seq_lens_k"]).logits
    cu = batch["cu_seq_lens_q"].tolist()
    for k in range(len(rows)):  # scramble example k: every other example's logits must not move at all
        ids = batch["input_ids"].clone()
        ids[0, cu[k]:cu[k + 1]] = torch.randint(0, model.config.vocab_size, (cu[k + 1] - cu[k],))
        out = model(input_ids=ids, position_ids=batch["position_ids"], cu_seq_lens_q=batch["cu_seq_lens_q"],
                    cu_seq_lens_k=batch["cu_seq_lens_k"]).logits
        for j in range(len(rows)):
            if j != k:
                assert torch.equal(out[0, cu[j]:cu[j + 1]], base[0, cu[j]:cu[j + 1]]), (k, j)
        assert not torch.equal(out[0, cu[k]:cu[k + 1]], base[0, cu[k]:cu[k + 1]])


def test_labels_never_cross_a_boundary_and_prompts_get_no_logits(rows):
    batch = PackedCollator()(rows)
    keep = batch["logits_to_keep"][0]
    cu = batch["cu_seq_lens_q"].tolist()
    for end in cu[1:]:
        assert not keep[end - 1]  # the last token of an example predicts nothing
    expected = sum(sum(1 for x in r["labels"][1:] if x != -100) for r in rows)
    assert int(keep.sum()) == expected == batch["shift_labels"].numel()
    assert int(keep.sum()) < 0.5 * keep.numel()  # logits on answer positions only
    assert batch["position_ids"][0, cu[1]] == 0 and batch["position_ids"][0, cu[1] - 1] == len(rows[0]["input_ids"]) - 1


def test_self_check_refuses_an_attention_that_ignores_boundaries(smol_tokenizer):
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import sdpa_attention_forward
    from transformers.masking_utils import AttentionMaskInterface

    def leaky(module, q, k, v, mask, **kw):  # causal over the whole packed row: crosses examples
        kw.pop("cu_seq_lens_q", None)
        return sdpa_attention_forward(module, q, k, v, None, **kw)

    AttentionInterface.register("tw_test_leaky", leaky)
    AttentionMaskInterface.register("tw_test_leaky", lambda *a, **k: None)
    m = tiny_llama(len(smol_tokenizer), seed=1)
    m.set_attn_implementation("tw_test_leaky")
    ok, why = packing_is_exact(m, m.config.vocab_size)
    assert not ok and "differ" in why
    register_varlen_attention()
    m.set_attn_implementation(VARLEN_ATTENTION)
    assert packing_is_exact(m, m.config.vocab_size)[0]
