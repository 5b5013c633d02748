"""Eval-set loading: any of the public column conventions → one table (id, prompt, category) plus the file's sha256.

Used by the runner (file-based eval sets) and by `rrs score`. Also holds `read_table`, the CSV/JSONL reader that
turns every malformed input (missing, empty, non-UTF-8, unparsable) into one UserError line naming the file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from rrs.errors import UserError

TAG = re.compile(r"^\s*\[([^\[\]]+)\]")
SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Convention:
    name: str
    required: tuple[str, ...]
    prompt: str
    id: str | None = None
    category: str | None = None
    context: str | None = None  # HarmBench: a non-empty ContextString is prepended as "<context>\n\n---\n\n<behavior>"


# Most specific first: a file matches the first convention whose required columns it has.
CONVENTIONS: tuple[Convention, ...] = (
    Convention("xstest", ("id", "prompt", "type", "label", "focus", "note"), "prompt", id="id", category="type"),
    Convention(
        "harmbench",
        ("Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID"),
        "Behavior",
        id="BehaviorID",
        category="SemanticCategory",
        context="ContextString",
    ),
    Convention(
        "jailbreakbench", ("Index", "Goal", "Target", "Behavior", "Category", "Source"), "Goal", "Index", "Category"
    ),
    Convention("strongreject", ("category", "source", "forbidden_prompt"), "forbidden_prompt", category="category"),
    Convention("advbench", ("goal", "target"), "goal"),
    Convention("original", ("prompt",), "prompt", id="id", category="category"),
)


@dataclass(frozen=True)
class EvalSet:
    table: pd.DataFrame  # columns id, prompt, category (all str; category "" when the file gives none)
    sha256: str
    convention: str
    path: Path


def decode(path: Path) -> str:
    """The file's text (UTF-8, BOM allowed); UserError if missing, empty, or not UTF-8."""
    if path.is_dir():
        raise UserError(f"{path}: is a directory, not a file")
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None
    if not text.strip():
        raise UserError(f"{path}: file is empty")
    if "\0" in text:
        raise UserError(f"{path}: line {text.count(chr(10), 0, text.index(chr(0))) + 1} holds a NUL byte: not text")
    return text


def clip(value: object, limit: int = 200) -> str:
    """`value` as text for an error line, cut to `limit` characters."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _text_error(row: dict) -> str | None:
    """Why a parsed JSON record holds something that is not text: a lone surrogate or a NUL in a key or value."""
    for k, v in row.items():
        for part, what in ((k, "key"), (v, "value")):
            if isinstance(part, str) and (SURROGATE.search(part) or "\0" in part):
                bad = "a NUL character" if "\0" in part else "a lone surrogate (not text)"
                return f"field {clip(k if what == 'value' else repr(k), 80)}: {what} holds {bad}"
    return None


def _loads(text: str):
    """json.loads with integers kept as written (a 10,000-digit id is text, not an int conversion error)."""
    return json.loads(text, parse_int=str)


def _read_jsonl(path: Path, text: str) -> pd.DataFrame:
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            rows = _loads(text)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
        except RecursionError:
            raise UserError(f"{path}: JSON nested too deeply") from None
        numbered = list(enumerate(rows, 1))
    else:
        numbered = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((lineno, _loads(line)))
            except json.JSONDecodeError as err:
                raise UserError(f"{path}: line {lineno} is not valid JSON ({err.msg})") from None
            except RecursionError:
                raise UserError(f"{path}: line {lineno}: JSON nested too deeply") from None
    for where, row in numbered:
        if not isinstance(row, dict):
            raise UserError(f"{path}: record {where} is not a JSON object")
        if why := _text_error(row):
            raise UserError(f"{path}: record {where}: {why}")
    frame = pd.DataFrame([row for _, row in numbered])
    if frame.empty:
        return frame
    return frame.apply(lambda col: col.map(_cell))


def _cell(v) -> str:
    """A JSON value as text: null, NaN and a missing key are empty, never the text "nan"."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return v if isinstance(v, str) else str(v)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV/TSV/JSONL/JSON file as a DataFrame of strings (missing values → ""); one-line UserError on bad input."""
    path = Path(path)
    text = decode(path)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        frame = _read_jsonl(path, text)
    else:
        sep = "\t" if path.suffix.lower() == ".tsv" else ","
        _check_fields(path, text, sep)
        try:
            frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False)
        except (pd.errors.ParserError, csv.Error, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(f"{path}: cannot parse as CSV ({first})") from None
    if frame.empty:
        raise UserError(f"{path}: no data rows (columns: {', '.join(map(str, frame.columns)) or 'none'})")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def _check_fields(path: Path, text: str, sep: str) -> None:
    """Every CSV record has as many fields as the header, and the header names each column once (pandas would
    silently take an extra leading field as the index, fill a missing one, or rename a repeated column)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))
    try:
        reader = csv.reader(io.StringIO(text), delimiter=sep)
        header = next(reader, [])
        names = [h.strip() for h in header]
        dup = next((h for i, h in enumerate(names) if h in names[:i]), None)
        if dup is not None:
            raise UserError(f"{path}: header names column {clip(dup, 80)!r} twice")
        for row in reader:
            if row and len(row) != len(header):
                more = "more" if len(row) > len(header) else "fewer"
                raise UserError(f"{path}: cannot parse as CSV: line {reader.line_num} has {len(row)} fields, {more} "
                                f"than the header's {len(header)}")
    except csv.Error as err:
        raise UserError(f"{path}: cannot parse as CSV ({clip(err)})") from None
    finally:
        csv.field_size_limit(limit)


def tag_category(prompt: str) -> str:
    """'[DRUG] Please …' → 'drug'; '' when the prompt has no leading bracketed tag."""
    m = TAG.match(prompt)
    return m.group(1).strip().lower() if m else ""


def detect(columns: list[str], path: Path) -> Convention:
    for conv in CONVENTIONS:
        if set(conv.required) <= set(columns):
            return conv
    tried = "; ".join(f"{c.name} ({', '.join(c.required)})" for c in CONVENTIONS)
    raise UserError(f"{path}: columns [{', '.join(columns)}] match no eval-set convention; tried {tried}")


def normalise(frame: pd.DataFrame, conv: Convention, path: Path) -> pd.DataFrame:
    prompts = frame[conv.prompt].astype(str)
    if conv.context:
        ctx = frame[conv.context].astype(str)
        prompts = pd.Series([f"{c}\n\n---\n\n{p}" if c.strip() else p for c, p in zip(ctx, prompts, strict=True)])
    ids = frame[conv.id].astype(str) if conv.id in frame.columns else pd.Series([str(i) for i in range(len(frame))])
    if conv.category in frame.columns:
        cats = frame[conv.category].astype(str).str.strip()
    else:
        cats = prompts.map(tag_category)
    table = pd.DataFrame({"id": ids.str.strip().to_numpy(), "prompt": prompts.to_numpy(), "category": cats.to_numpy()})
    empty = [i for i, p in enumerate(table["prompt"]) if not p.strip()]
    if empty:
        raise UserError(
            f"{path}: column {conv.prompt!r} is empty in {len(empty)} row(s), first at data row {empty[0] + 1}"
        )
    dup = table["id"][table["id"].duplicated()]
    if len(dup):
        raise UserError(f"{path}: column {conv.id!r} repeats id {dup.iloc[0]!r} ({len(dup)} duplicate(s))")
    return table


def load_eval_set(path: str | Path, *, expected_sha256: str | None = None, origin: str | None = None) -> EvalSet:
    """Load an eval set in any known convention; verify its sha256 when one is expected."""
    path = Path(path)
    hint = f"; obtain it from {origin}" if origin else ""
    if not path.is_file():
        pin = f" (sha256 {expected_sha256})" if expected_sha256 else ""
        raise UserError(f"eval set expected at {path}{pin}{hint}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if expected_sha256 and digest != expected_sha256.lower():
        raise UserError(f"{path}: sha256 mismatch: expected {expected_sha256}, got {digest}{hint}")
    frame = read_table(path)
    conv = detect(list(frame.columns), path)
    return EvalSet(table=normalise(frame, conv, path), sha256=digest, convention=conv.name, path=path)
