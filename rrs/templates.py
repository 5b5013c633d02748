"""Named chat-template overrides (`models[].chat_template`), for a tokenizer that lacks a template or a study that
replaces it. A spec that names none uses the tokenizer's own template, which is what the study's models ship with.

Each entry renders the public chat format of a model family; `raw` applies no chat format at all (the prompt text
alone), which is how the original study's Day7 notebooks fed their models; `bigger-safer-wrapper` is the plain-text
wrapper its Day3-6 scripts put around every prompt.
"""

from __future__ import annotations

from rrs.errors import UserError
from rrs.registry import did_you_mean

TEMPLATES = {
    # TinyLlama-1.1B-Chat-v1.0 (zephyr format): <|user|>\n...</s>\n<|assistant|>\n
    "zephyr": (
        "{% for message in messages %}\n"
        "{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
        "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
        "{% endif %}\n"
        "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
        "{% endfor %}"
    ),
    # Qwen2-Instruct: chatml with the default system message when the conversation has none
    "qwen2": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # plain chatml, no default system message
    "chatml": (
        "{% for message in messages %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # Phi-3-mini-instruct: <|user|>\n...<|end|>\n<|assistant|>\n
    "phi3": (
        "{% for message in messages %}"
        "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
        "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
        "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
        "{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
    ),
    # Gemma 3 turn format (as in google/gemma-3-*-it's tokenizer_config.json, text only): BOS, then
    # <start_of_turn>user\n...<end_of_turn>\n, the assistant's role is "model", a system message is put in front of
    # the first user turn; the pretrained gemma-3-270m GGUF ships no template, so a study names this one
    "gemma": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
        "{% set first_user_prefix = messages[0]['content'] + '\n\n' %}{% set loop_messages = messages[1:] %}"
        "{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}"
        "{% for message in loop_messages %}{% set role = 'model' if message['role'] == 'assistant' "
        "else message['role'] %}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}"
        "{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
    ),
    # no chat format: the prompt text alone (system prompt, if any, first), as the original Day7 notebooks did
    "raw": "{% for message in messages %}{{ message['content'] }}{% if not loop.last %}\n\n{% endif %}{% endfor %}",
    # the hand-written wrapper of the original study's Day3-6 scripts (day3_02_pre_infer.py, day4_02_pre_infer.py),
    # used for TinyLlama and Phi-3 alike: "<|system|>\n{system}\n<|user|>\n{prompt}\n<|assistant|>\n"
    "bigger-safer-wrapper": (
        "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    ),
}


def chat_template(name: str) -> str:
    if name not in TEMPLATES:
        raise UserError(f"unknown chat_template {name!r}.{did_you_mean(name, TEMPLATES)} Known: {', '.join(TEMPLATES)}")
    return TEMPLATES[name]
