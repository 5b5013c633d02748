"""A tiny GGUF file written here with gguf's own writer, as llama.cpp lays one out for a Llama chat model: the
architecture's hyperparameters, a byte-level BPE tokenizer ("gpt2" model: tokens, types, merges, special ids), its
ChatML chat template, one Q8_0-quantized tensor (the token embedding) and float32 for the rest. Random weights:
the model answers with garbage, which is all a pipeline test needs.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, TokenType
from gguf.quants import quantize
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from rrs import corpus

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
HIDDEN, FFN, HEADS, LAYERS = 32, 64, 2, 1


def _tokenizer(vocab_size: int = 320) -> tuple[list[str], list[str]]:
    """(tokens, merges) of a byte-level BPE trained on the project's corpus."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus.tokenizer_corpus()[:400], trainer=trainer)
    state = json.loads(tok.to_str())["model"]
    vocab = sorted(state["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["merges"]]
    return [t for t, _ in vocab], merges


def write_tiny_gguf(path: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the file; returns the tensors as the model should hold them after dequantization (GGUF names)."""
    tokens, merges = _tokenizer()
    rng = np.random.default_rng(seed)
    w = GGUFWriter(str(path), "llama")
    w.add_name("rrs tiny test model")
    w.add_block_count(LAYERS)
    w.add_context_length(256)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(HEADS)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(HIDDEN // HEADS)
    w.add_vocab_size(len(tokens))
    w.add_file_type(LlamaFileType.MOSTLY_Q8_0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([TokenType.CONTROL if t in SPECIAL else TokenType.NORMAL for t in tokens])
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|im_start|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_pad_token_id(tokens.index("<|endoftext|>"))
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)
    expected = {}

    def add(name: str, shape: tuple[int, ...], q8: bool = False) -> None:
        data = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        if q8:
            packed = quantize(data, GGMLQuantizationType.Q8_0)
            w.add_tensor(name, packed, raw_shape=packed.shape, raw_dtype=GGMLQuantizationType.Q8_0)
            from gguf.quants import dequantize

            data = dequantize(packed, GGMLQuantizationType.Q8_0).reshape(shape)
        else:
            w.add_tensor(name, data)
        expected[name] = data

    add("token_embd.weight", (len(tokens), HIDDEN), q8=True)
    add("output_norm.weight", (HIDDEN,))
    for i in range(LAYERS):
        add(f"blk.{i}.attn_norm.weight", (HIDDEN,))
        add(f"blk.{i}.ffn_norm.weight", (HIDDEN,))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add(f"blk.{i}.{name}.weight", (HIDDEN, HIDDEN))
        add(f"blk.{i}.ffn_gate.weight", (FFN, HIDDEN))
        add(f"blk.{i}.ffn_up.weight", (FFN, HIDDEN))
        add(f"blk.{i}.ffn_down.weight", (HIDDEN, FFN))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return expected


def write_wheel(path: Path, member: str, gguf_path: Path) -> Path:
    """A wheel-shaped zip holding the GGUF file at `member` (a package resource)."""
    with zipfile.ZipFile(path, "w") as z:
        z.write(gguf_path, member)
        z.writestr(member.split("/")[0] + "/__init__.py", "")
    return path
