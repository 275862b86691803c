"""tunewright serve: the OpenAI client library against a real uvicorn on loopback, the tiny model behind it.

Specialist (adapter on) and generalist (adapter off) from one set of weights, streaming, the bad-request
answers, the API key, and a bounded load test whose replies must each equal the single-client reply."""

import asyncio
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from serving_helpers import start_server as _start, tiny_run  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunewright.serving.endpoint import ServeSettings, create_app
    from tunewright.serving.engine import Engine, Limits

    cfg, run, base = tiny_run(tmp_path_factory.mktemp("serve"))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(run.model_dir)).eval()
    engine = Engine(model, AutoTokenizer.from_pretrained(base), cfg.data.system_prompt,
                    Limits(max_prompt_tokens=160, max_tokens=24, default_max_tokens=12, max_request_bytes=20000))
    server, thread, url = _start(create_app(engine, ServeSettings()))
    yield engine, url, base, run
    server.should_exit = True
    thread.join(10)


def test_openai_client_chat_models_and_streaming(served):
    from openai import OpenAI

    engine, url, base, run = served
    client = OpenAI(base_url=url, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["specialist", "generalist"]
    msgs = [{"role": "user", "content": "The Borrower, Acme Corp, shall repay the Lender in London."}]
    spec = client.chat.completions.create(model="specialist", messages=msgs, max_tokens=12, temperature=0)
    gen = client.chat.completions.create(model="generalist", messages=msgs, max_tokens=12, temperature=0)
    assert spec.model == "specialist" and spec.usage.completion_tokens >= 1
    assert spec.choices[0].message.content  # the EOS-free tiny model always says something

    # the served answers are what the weights give outside the server: adapter on, and adapter off
    import torch
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([engine.chat_ids(msgs)])
    plain = AutoModelForCausalLM.from_pretrained(base).eval()
    with torch.no_grad():
        out = plain.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                             pad_token_id=engine.tokenizer.pad_token_id)
    assert gen.choices[0].message.content == engine.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

    stream = client.chat.completions.create(model="specialist", messages=msgs, max_tokens=12, temperature=0,
                                            stream=True)
    pieces, finish = [], None
    for chunk in stream:
        pieces.append(chunk.choices[0].delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == spec.choices[0].message.content and finish in ("stop", "length")
    assert len([p for p in pieces if p]) >= 2  # it really streamed, piece by piece

    comp = client.completions.create(model="generalist", prompt="Loan agreement between", max_tokens=8, temperature=0)
    assert comp.choices[0].text and comp.usage.completion_tokens <= 8


def test_bad_requests_get_a_clear_4xx_and_no_traceback(served):
    import httpx

    engine, url, _, _ = served
    chat = f"{url}/chat/completions"
    ok = {"model": "specialist", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    cases = [
        (httpx.post(chat, content=b"{not json", headers={"content-type": "application/json"}), 400, "invalid_json"),
        (httpx.post(chat, json={**ok, "model": "gpt-9"}), 404, "model_not_found"),
        (httpx.post(chat, json={**ok, "messages": [{"role": "user", "content": "loan " * 400}]}), 400,
         "context_length_exceeded"),
        (httpx.post(chat, json={**ok, "max_tokens": 10_000}), 400, "invalid_request"),
        (httpx.post(chat, json={**ok, "messages": [{"role": "wizard", "content": "x"}]}), 400, "invalid_request"),
        (httpx.post(chat, json={"model": "specialist"}), 400, "invalid_request"),
        (httpx.post(chat, content=b"[1, 2]", headers={"content-type": "application/json"}), 400, "invalid_json"),
        (httpx.post(chat, content=b'{"x": "' + b"a" * 30000 + b'"}'), 413, "request_too_large"),
        (httpx.post(chat, json=ok, headers={"origin": "https://evil.example"}), 403, "origin_not_allowed"),
        (httpx.post(chat, json={**ok, "model": "auto"}), 404, "model_not_found"),  # no router shipped here
        (httpx.get(f"{url}/nope"), 404, None),
    ]
    for r, status, code in cases:
        assert r.status_code == status, (r.status_code, r.text)
        err = r.json()["error"]
        assert err["message"] and "Traceback" not in r.text and "File \"" not in r.text
        if code:
            assert err["code"] == code, err


def test_generation_does_not_block_other_requests(served):
    """/v1/models answers while a generation runs in the worker thread."""
    import httpx

    engine, url, _, _ = served

    async def go():
        async with httpx.AsyncClient(timeout=60) as c:
            long = asyncio.create_task(c.post(f"{url}/chat/completions", json={
                "model": "specialist", "max_tokens": 24, "temperature": 0,
                "messages": [{"role": "user", "content": "Summarise the agreement between Acme and the Bank."}]}))
            await asyncio.sleep(0.3)
            t0 = time.perf_counter()
            models = await c.get(f"{url}/models")
            quick = time.perf_counter() - t0
            done_first = long.done()
            r = await long
            return models.status_code, quick, done_first, r.status_code

    status, quick, done_first, long_status = asyncio.run(go())
    assert status == 200 and long_status == 200
    assert done_first or quick < 2.0


def test_bounded_load_replies_match_single_client_replies(served):
    from tunewright.serving.loadtest import run_load

    engine, url, _, _ = served
    prompts = ["Acme Corp borrows from Barclays Bank.", "John Smith signs in New York.", "No entities here at all."]
    res = asyncio.run(run_load(url, prompts, clients=6, rounds=2, max_tokens=8))
    assert res.requests == 12 and res.failed == 0 and res.mismatched == 0, res.examples_of_mismatch
    assert res.p95_s >= res.p50_s > 0 and res.completion_tokens > 0


def test_api_key_required_off_loopback_and_checked(served):
    import httpx

    from tunewright.serving.endpoint import ServeSettings, check_bind, create_app

    engine = served[0]
    with pytest.raises(ValueError, match="API key"):
        check_bind(ServeSettings(host="0.0.0.0"))
    server, thread, url = _start(create_app(engine, ServeSettings(api_key="s3cret")))
    try:
        assert httpx.get(f"{url}/models").status_code == 401
        assert httpx.get(f"{url}/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{url}/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    finally:
        server.should_exit = True
        thread.join(10)
