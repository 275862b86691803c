"""Built-in chat templates for base models that ship none (``selection.candidates[].chat_template``).

Both are prefix-consistent, as training/formats.py needs: rendering the first i messages with the generation
prompt is a prefix of rendering i+1. ``gemma`` uses the turn markers that are single tokens in Gemma's
vocabulary (the -it models' format, with the system prompt folded into the first user turn); ``chatml`` writes
``<|im_start|>``/``<|im_end|>``, single tokens in Qwen and SmolLM vocabularies and plain text elsewhere.
"""

from __future__ import annotations

CHAT_TEMPLATES = {
    "chatml": (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "gemma": (
        "{{ bos_token }}{% set sys = namespace(text='') %}"
        "{% for m in messages %}{% if m['role'] == 'system' %}{% set sys.text = m['content'] + '\n\n' %}"
        "{% else %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
        "{% if m['role'] == 'user' %}{{ sys.text }}{% set sys.text = '' %}{% endif %}"
        "{{ m['content'] }}<end_of_turn>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
}


def resolve_chat_template(value: str) -> str:
    """A built-in template by name, or ``value`` itself when it is a Jinja template."""
    if value in CHAT_TEMPLATES:
        return CHAT_TEMPLATES[value]
    if "{%" in value or "{{" in value:
        return value
    from tunewright.errors import InputError

    raise InputError(f"chat template {value!r}: not a built-in ({', '.join(CHAT_TEMPLATES)}) nor a Jinja template")
