"""An Ollama ``Modelfile`` for an exported GGUF: FROM the file, TEMPLATE from the chat template, the stop
tokens, and the system prompt the run trained with.

Ollama templates are Go templates; a Jinja chat template cannot be translated in general. So the chat
template is matched, by rendering probe conversations, against the layouts Ollama has templates for
(ChatML, Llama 3); the match is then checked on every test prompt of the run, with a Python mirror of the Go
template against ``tokenizer.apply_chat_template``. A template of no known layout gets a Modelfile without
TEMPLATE (Ollama then reads ``tokenizer.chat_template`` from the GGUF) and a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class ChatLayout:
    name: str
    go_template: str
    stops: tuple[str, ...]
    render: Callable[[list[dict]], str]  # messages -> prompt text with the assistant header (no BOS)
    system_of: Callable[[str], str | None]  # rendered user-only prompt -> the default system text, if any


def _chatml(messages: list[dict]) -> str:
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"


def _chatml_system(text: str) -> str | None:
    head = "<|im_start|>system\n"
    if text.startswith(head) and "<|im_end|>" in text:
        return text[len(head):text.index("<|im_end|>")]
    return None


def _llama3(messages: list[dict]) -> str:
    return ("".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages)
            + "<|start_header_id|>assistant<|end_header_id|>\n\n")


def _llama3_system(text: str) -> str | None:
    head = "<|start_header_id|>system<|end_header_id|>\n\n"
    if text.startswith(head) and "<|eot_id|>" in text:
        return text[len(head):text.index("<|eot_id|>")]
    return None


LAYOUTS = [
    ChatLayout("chatml", '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}'
               '<|im_start|>assistant\n', ("<|im_start|>", "<|im_end|>"), _chatml, _chatml_system),
    ChatLayout("llama3", '{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}'
               '<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n',
               ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), _llama3, _llama3_system),
]


@dataclass
class ModelfileResult:
    path: str
    layout: str | None
    system: str | None
    stops: list[str]
    checked_prompts: int
    warnings: list[str] = field(default_factory=list)


def _rendered(tokenizer, messages: list[dict]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _same(layout_text: str, template_text: str, bos: str | None) -> bool:
    """Equal, or equal after a BOS the chat template writes itself (llama.cpp adds BOS from the metadata)."""
    return template_text == layout_text or (bool(bos) and template_text == bos + layout_text
                                            and not layout_text.startswith(bos))


def match_layout(tokenizer, system_prompt: str | None, prompts: list[list[dict]]) -> tuple[ChatLayout | None, str | None, int]:
    """The known layout that reproduces the chat template on every prompt, the system text, prompts checked."""
    for layout in LAYOUTS:
        probe = _rendered(tokenizer, [{"role": "user", "content": "Hi"}])
        bos = tokenizer.bos_token
        default_system = layout.system_of(probe)
        if default_system is None and bos and probe.startswith(bos):
            default_system = layout.system_of(probe[len(bos):])
        system = system_prompt if system_prompt is not None else default_system
        ok = 0
        for msgs in prompts:
            msgs = [m for m in msgs if m["role"] != "system"]
            full = ([{"role": "system", "content": system}] if system is not None else []) + msgs
            if not _same(layout.render(full), _rendered(tokenizer, full if system_prompt is not None else msgs), bos):
                break
            ok += 1
        else:
            return layout, system, ok
    return None, system_prompt, 0


def _quote(text: str) -> str:
    if '"""' in text:
        raise ValueError('the system prompt contains """, which a Modelfile cannot quote')
    return f'"""{text}"""'


def write_modelfile(folder: Path, gguf_name: str, tokenizer, system_prompt: str | None,
                    prompts: list[list[dict]], max_new_tokens: int) -> ModelfileResult:
    """``prompts``: the run's test conversations (without the answer), used to check the TEMPLATE."""
    layout, system, checked = match_layout(tokenizer, system_prompt, prompts)
    warnings = []
    lines = ["# Written by tunewright. In this folder: ollama create NAME -f Modelfile",
             f"FROM ./{gguf_name}"]
    stops = []
    if layout is None:
        warnings.append("the chat template matches no layout with an Ollama template (ChatML, Llama 3); the "
                        "Modelfile has no TEMPLATE and Ollama falls back on the GGUF's tokenizer.chat_template")
    else:
        lines.append(f"TEMPLATE {_quote(layout.go_template)}")
        stops = list(layout.stops)
    eos = tokenizer.eos_token
    if eos and eos not in stops:
        stops.append(eos)
    if system is not None:
        lines.append(f"SYSTEM {_quote(system)}")
    for s in stops:
        lines.append(f'PARAMETER stop "{s}"')
    lines += ["PARAMETER temperature 0", f"PARAMETER num_predict {max_new_tokens}"]
    path = Path(folder) / "Modelfile"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ModelfileResult(str(path), layout.name if layout else None, system, stops, checked, warnings)
