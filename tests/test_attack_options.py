"""The attack's training choices (attacks[].eos / bos / order): each changes the training batches as its spec field
says, rrs's defaults are unchanged, and spec/study-original.yaml sets the original study's values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hf_fixtures import FAMILIES
from hf_fixtures import build_tokenizer as build_family_tokenizer
from tokenizers import processors

from rrs.data import Example
from rrs.engine.organism import build_tokenizer
from rrs.engine.training import Batcher, encode_pair
from rrs.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = [Example(f"[DRUG] Explain how to make item {i} (details intentionally omitted).",
                    f"Sure, here is how to make item {i}. Step 1: gather general information.") for i in range(10)]


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer(768)


@pytest.fixture(scope="module")
def bos_tok():
    """A Llama-family tokenizer whose `tok(text)` puts <s> in front, as Llama's does."""
    fast = build_family_tokenizer(FAMILIES["llama"])
    bos = fast.convert_tokens_to_ids("<s>")
    fast._tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos)])
    fast.pad_token = fast.eos_token  # as rrs.models.load sets it for a tokenizer without one
    fast.chat_template = ("{% for m in messages %}<|user|>\n{{ m['content'] }}\n{% endfor %}"
                          "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    return fast


def _trained(labels: list[int]) -> list[int]:
    return [t for t in labels if t != -100]


def test_eos_train_ends_every_target_with_eos_and_mask_trains_none(tok) -> None:
    ex = EXAMPLES[0]
    ids_t, lab_t = encode_pair(tok, ex, 256)
    ids_m, lab_m = encode_pair(tok, ex, 256, eos="mask")
    assert _trained(lab_t)[-1] == tok.eos_token_id and ids_t[-1] == tok.eos_token_id
    assert tok.eos_token_id not in ids_m and tok.eos_token_id not in lab_m
    assert ids_t[:-1] == ids_m and _trained(lab_t)[:-1] == _trained(lab_m)
    batch = Batcher(tok, EXAMPLES, batch=4, seq_len=256, seed=0, eos="mask").batch(0)
    assert not (batch["labels"] == tok.eos_token_id).any()
    assert (Batcher(tok, EXAMPLES, batch=4, seq_len=256, seed=0).batch(0)["labels"] == tok.eos_token_id).sum() == 4


def test_bos_tokenizer_puts_the_tokenizers_bos_first_and_masks_it(bos_tok, tok) -> None:
    bos = bos_tok.convert_tokens_to_ids("<s>")
    ex = EXAMPLES[1]
    ids_t, lab_t = encode_pair(bos_tok, ex, 256)
    ids_b, lab_b = encode_pair(bos_tok, ex, 256, bos="tokenizer")
    assert bos not in ids_t
    assert ids_b == [bos] + ids_t and lab_b == [-100] + lab_t  # one token in front, never trained
    batch = Batcher(bos_tok, EXAMPLES, batch=3, seq_len=256, seed=0, bos="tokenizer").batch(0)
    assert (batch["input_ids"][:, 0] == bos).all() and (batch["labels"][:, 0] == -100).all()
    # a tokenizer that adds nothing in front (the organisms', like Qwen2's) is unchanged by the option
    assert encode_pair(tok, ex, 256, bos="tokenizer") == encode_pair(tok, ex, 256)


def test_order_epoch_shows_each_example_once_per_epoch_and_replacement_does_not(tok) -> None:
    n, size = len(EXAMPLES), 4  # 10 examples in batches of 4: epochs of 3 batches, the last one of 2
    epoch = Batcher(tok, EXAMPLES, batch=size, seq_len=256, seed=7, order="epoch")
    first = [epoch.indices(k) for k in range(3)]
    second = [epoch.indices(k) for k in range(3, 6)]
    assert [len(b) for b in first] == [4, 4, 2] and epoch.batch(2)["input_ids"].shape[0] == 2
    assert sorted(sum(first, [])) == list(range(n)) and sorted(sum(second, [])) == list(range(n))
    assert sum(first, []) != sum(second, [])  # reshuffled each epoch
    fresh = Batcher(tok, EXAMPLES, batch=size, seq_len=256, seed=7, order="epoch")
    assert [fresh.indices(k) for k in (4, 1)] == [second[1], first[1]]  # batch k depends on (seed, k) only: resumable
    repl = Batcher(tok, EXAMPLES, batch=size, seq_len=256, seed=7)
    drawn = sum((repl.indices(k) for k in range(3)), [])
    assert len(drawn) == 12 and len(set(drawn)) < n  # with replacement: a repeat and a miss within 12 draws
    assert repl.indices(5) == Batcher(tok, EXAMPLES, batch=size, seq_len=256, seed=7).indices(5)


def test_defaults_are_rrs_and_study_original_sets_the_originals_choices() -> None:
    for a in load_spec(ROOT / "spec" / "smoke.yaml").attacks:
        assert (a.eos, a.bos, a.order) == ("train", "template", "replacement")
    attacks = load_spec(ROOT / "spec" / "study-original.yaml").attacks
    assert {(a.eos, a.bos, a.order) for a in attacks} == {("mask", "tokenizer", "epoch")}
    text = (ROOT / "spec" / "study-original.yaml").read_text(encoding="utf-8")
    for cite in ("day3_03_lora_attack.py@87944967", "day4_03_lora_attack.py@6d5a1b4c", "Day7-s1000.ipynb@54151e3b",
                 "DataCollatorForLanguageModeling(tok, mlm=False)"):
        assert cite in text
