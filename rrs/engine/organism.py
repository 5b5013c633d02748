"""Toy refusal organisms: a BPE tokenizer, a tiny Llama, and deterministic safety tuning on CPU."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from rrs import corpus
from rrs.engine.safety import tune
from rrs.spec import OrganismModel

SPECIAL = {"pad": "<|pad|>", "eos": "<|eos|>", "user": "<|user|>", "assistant": "<|assistant|>", "system": "<|system|>"}
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<|system|>\n{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}<|user|>\n{{ m['content'] }}\n"
    "{% elif m['role'] == 'assistant' %}<|assistant|>\n{{ m['content'] }}<|eos|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tokenizer(vocab_size: int, design: str = corpus.DEFAULT_DESIGN) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on the project's corpus; deterministic for a given corpus and vocab size."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus.tokenizer_corpus(design), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=SPECIAL["pad"], eos_token=SPECIAL["eos"], padding_side="left"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(spec: OrganismModel, tok: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=spec.hidden,
        intermediate_size=spec.intermediate or 4 * spec.hidden,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(spec.seed)
    return LlamaForCausalLM(cfg)


def safety_tune(spec: OrganismModel, out_dir: Path, design: str = corpus.DEFAULT_DESIGN) -> None:
    """Build and safety-tune one organism (all weights, from random init); save model + tokenizer (safetensors)."""
    tok = build_tokenizer(spec.vocab_size, design)
    model = build_model(spec, tok)
    tune(model, tok, model.parameters(), steps=spec.tune_steps, lr=spec.tune_lr, batch=spec.tune_batch, seq_len=128,
         seed=spec.seed, desc=f"safety-tune {spec.name}", design=design)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)

