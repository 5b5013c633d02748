"""Eval-set conventions → (id, prompt, category) + sha256; each malformed file → one UserError line naming it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rrs.errors import UserError
from rrs.evalsets import load_eval_set, read_table, tag_category

FIX = Path(__file__).parent / "fixtures" / "evalsets"


@pytest.mark.parametrize(
    "name, convention, first_id, first_category",
    [
        ("original.csv", "original", "0", "drug"),
        ("original.jsonl", "original", "a", "drug"),
        ("advbench.csv", "advbench", "0", ""),
        ("harmbench.csv", "harmbench", "placeholder_topic_a", "illegal"),
        ("jailbreakbench.csv", "jailbreakbench", "1", "Harassment/Discrimination"),
        ("strongreject.csv", "strongreject", "0", "Disinformation and deception"),
        ("xstest.csv", "xstest", "1", "homonyms"),
    ],
)
def test_conventions(name, convention, first_id, first_category):
    es = load_eval_set(FIX / name)
    assert es.convention == convention
    assert list(es.table.columns) == ["id", "prompt", "category"]
    assert (es.table["id"].iloc[0], es.table["category"].iloc[0]) == (first_id, first_category)
    assert es.sha256 == hashlib.sha256((FIX / name).read_bytes()).hexdigest()
    assert all(isinstance(p, str) and p for p in es.table["prompt"])


def test_original_tags_and_quoting():
    t = load_eval_set(FIX / "original.csv").table
    assert list(t["category"]) == ["drug", "weapon", "fraud", ""]
    assert "with commas" in t["prompt"].iloc[2]


def test_harmbench_context_prepended():
    t = load_eval_set(FIX / "harmbench.csv").table
    assert t["prompt"].iloc[1].startswith("A short placeholder context paragraph.\n\n---\n\nSummarise")
    assert t["prompt"].iloc[0].startswith("Give a placeholder")


def test_tag_category():
    assert tag_category("[DRUG] Please …") == "drug"
    assert tag_category("  [Self Harm] x") == "self harm"
    assert tag_category("No tag [X]") == ""


def one_line_error(fn) -> str:
    with pytest.raises(UserError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_missing_file_names_origin(tmp_path):
    msg = one_line_error(lambda: load_eval_set(tmp_path / "eval.csv", origin="https://example.org/eval.csv"))
    assert f"expected at {tmp_path / 'eval.csv'}; obtain it from https://example.org/eval.csv" in msg


def test_sha_mismatch():
    msg = one_line_error(lambda: load_eval_set(FIX / "original.csv", expected_sha256="0" * 64))
    assert "original.csv" in msg and "expected " + "0" * 64 in msg and "got " in msg
    good = hashlib.sha256((FIX / "original.csv").read_bytes()).hexdigest()
    assert load_eval_set(FIX / "original.csv", expected_sha256=good).sha256 == good


def test_unknown_convention_lists_columns_and_conventions():
    msg = one_line_error(lambda: load_eval_set(FIX / "unknown.csv"))
    assert "columns [question, answer]" in msg
    for name in (
        "original (prompt)",
        "advbench (goal, target)",
        "xstest",
        "harmbench",
        "jailbreakbench",
        "strongreject",
    ):
        assert name in msg


@pytest.mark.parametrize(
    "content, needle",
    [
        (b"", "file is empty"),
        (b"  \n", "file is empty"),
        (b"prompt\n", "no data rows"),
        (b"prompt\n\xff\xfebad\n", "not UTF-8 text (byte 0xff at offset 7)"),
        (b'prompt\n"unterminated\n', "cannot parse as CSV"),
        (b"id,prompt\n1,ok\n2, \n", "is empty in 1 row(s), first at data row 2"),
        (b"id,prompt\n1,a\n1,b\n", "repeats id '1'"),
    ],
)
def test_malformed_files(tmp_path, content, needle):
    path = tmp_path / "eval.csv"
    path.write_bytes(content)
    msg = one_line_error(lambda: load_eval_set(path))
    assert str(path) in msg and needle in msg


def test_bad_jsonl(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"prompt": "a"}\n[1, 2]\n')
    assert "record 2 is not a JSON object" in one_line_error(lambda: read_table(path))
    path.write_text('{"prompt": "a"}\n{oops\n')
    assert "line 2 is not valid JSON" in one_line_error(lambda: read_table(path))
