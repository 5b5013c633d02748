"""Reviewer mode: re-judge stored generations with every judge and metric, and report data-quality findings.

`load_responses` reads a CSV/JSONL of prompts and responses; `score` labels them with each judge, computes
rrr/ce (Wilson CI), refusal_delay, calibration_entropy, rd against an optional baseline (paired by id, else by
prompt text), Cohen's kappa between judges and a per-category breakdown; `write_outputs` and `format_report`
present the result. The same judges and metrics serve the runner.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from rrs import atomic
from rrs.errors import UserError
from rrs.evalsets import clip, read_table, tag_category
from rrs.hashing import sha256_file
from rrs.judges import get_judge
from rrs.judges.keyword import KEYWORD_JUDGES
from rrs.measure import quality as q
from rrs.measure.judging import judge_metrics, label
from rrs.measure.metrics import cohen_kappa, drift_fields, rate, rate_fields, response_drift

RESPONSE_COLS = ("response", "gen", "output", "completion", "generation")
PROMPT_COLS = ("prompt", "goal", "forbidden_prompt", "behavior", "question", "instruction")
ID_COLS = ("id", "behaviorid", "index", "idx", "sample_id")
CATEGORY_COLS = ("category", "semanticcategory")
SET_COLS = ("set",)  # the runner's samples: "harmful" rows are scored, "benign" rows give over_refusal apart
SETS = ("harmful", "benign")
EMBED_CHUNK = 2048  # texts embedded at once for rd (memory stays bounded on large files)
DEFAULT_JUDGES = (*KEYWORD_JUDGES, "classifier:sbert-logreg")


def default_embed(texts: list[str]) -> np.ndarray:
    """MiniLM embeddings, EMBED_CHUNK texts at a time, with a progress bar when there is more than one chunk."""
    from rrs.engine.embed import DIM, embed
    from rrs.progress import progress

    starts = range(0, len(texts), EMBED_CHUNK)
    if len(starts) <= 1:
        return embed(texts)
    out = np.empty((len(texts), DIM), dtype=np.float32)
    for i in progress(starts, desc="embed (rd)"):
        out[i : i + EMBED_CHUNK] = embed(texts[i : i + EMBED_CHUNK])
    return out


@dataclass
class Responses:
    path: Path
    table: pd.DataFrame  # columns id, prompt, response, category, set (str; "" where the file has none)
    sha256: str
    columns: dict[str, str | None]  # role -> column used ("response", "prompt", "id", "category", "set")
    rows_in_file: int = 0  # before a set is selected

    @property
    def has_id(self) -> bool:
        return self.columns["id"] is not None

    @property
    def has_prompt(self) -> bool:
        return self.columns["prompt"] is not None

    @property
    def has_set(self) -> bool:
        return self.columns.get("set") is not None

    def subset(self, name: str) -> Responses:
        """The rows of one set ("harmful" or "benign") of a file with a set column."""
        t = self.table[self.table["set"] == name].reset_index(drop=True)
        return Responses(self.path, t, self.sha256, self.columns, self.rows_in_file)


def _pick(columns: list[str], given: str | None, candidates: Sequence[str], path: Path, role: str) -> str | None:
    if given is not None:
        if given not in columns:
            raise UserError(f"{path}: no {role} column {clip(given)!r} (columns: {_names(columns)})")
        return given
    lower = {c.lower(): c for c in reversed(columns)}
    return next((lower[c] for c in candidates if c in lower), None)


def _names(columns: list[str]) -> str:
    """Column names for an error line: each cut to 40 characters, at most 20 of them, the whole cut to 200."""
    shown = ", ".join(clip(c, 40) for c in columns[:20]) + (f", … ({len(columns)} columns)" if len(columns) > 20 else "")
    return clip(shown)


def load_responses(
    path: str | Path, *, response_col: str | None = None, prompt_col: str | None = None, id_col: str | None = None
) -> Responses:
    """A file of responses as a normalised table; UserError (one line, naming the file) when it cannot be used."""
    path = Path(path)
    frame = read_table(path)
    cols = list(frame.columns)
    resp = _pick(cols, response_col, RESPONSE_COLS, path, "response")
    if resp is None:
        raise UserError(
            f"{path}: no response column; looked for {', '.join(RESPONSE_COLS)} (columns: {_names(cols)}); "
            "name it with --response-col"
        )
    prompt = _pick(cols, prompt_col, PROMPT_COLS, path, "prompt")
    ident = _pick(cols, id_col, ID_COLS, path, "id")
    cat = _pick(cols, None, CATEGORY_COLS, path, "category")
    kind = _pick(cols, None, SET_COLS, path, "set")
    n = len(frame)
    sets = frame[kind].astype(str).str.strip().str.lower() if kind else pd.Series([""] * n)
    if kind and not sets.isin(SETS).all():
        bad = int(np.flatnonzero(~sets.isin(SETS).to_numpy())[0])
        raise UserError(f"{path}: column {kind!r} is {clip(repr(frame[kind].iloc[bad]))} in data row {bad + 1}; "
                        f"expected {' or '.join(SETS)}")
    prompts = frame[prompt].astype(str) if prompt else pd.Series([""] * n)
    table = pd.DataFrame(
        {
            "id": (frame[ident].astype(str).str.strip() if ident else pd.Series([""] * n)).to_numpy(),
            "prompt": prompts.to_numpy(),
            "response": frame[resp].astype(str).to_numpy(),
            "category": (frame[cat].astype(str).str.strip() if cat else prompts.map(tag_category)).to_numpy(),
            "set": sets.to_numpy(),
        }
    )
    roles = {"response": resp, "prompt": prompt, "id": ident, "category": cat, "set": kind}
    return Responses(path=path, table=table, sha256=sha256_file(path), columns=roles, rows_in_file=n)


def _squash(text: str) -> str:
    return " ".join(text.split())


def quality(r: Responses, target: str | None = None, degenerate: list[bool] | None = None) -> dict[str, int]:
    """Counts: rows, echoed_prompt (response begins by repeating its prompt, whitespace-insensitive),
    empty_response (empty or whitespace only), duplicate_prompt (rows whose prompt appeared in an earlier row),
    degenerate (empty or looping, rrs/measure/quality.py) and, with a target, parroting (at least half the response's
    words are copies of the target). `degenerate`: the rows' degenerate flags, when already computed."""
    t = r.table
    extra = {"degenerate": sum(degenerate if degenerate is not None else map(q.degenerate, t["response"]))}
    if target:
        extra["parroting"] = sum(q.parroting(x, target) for x in t["response"])
    echoed = sum(
        1 for p, s in zip(t["prompt"], t["response"], strict=True) if _squash(p) and _squash(s).startswith(_squash(p))
    )
    dup = int(t["prompt"][t["prompt"].str.strip() != ""].duplicated().sum()) if r.has_prompt else 0
    dup_id = int(t["id"][t["id"] != ""].duplicated().sum()) if r.has_id else 0
    return {
        "rows": len(t),
        "echoed_prompt": echoed,
        "empty_response": int((t["response"].str.strip() == "").sum()),
        "duplicate_prompt": dup,
        "duplicate_id": dup_id,
    } | extra


@dataclass
class Pairing:
    key: str  # "id" or "prompt"
    resp_idx: list[int]
    base_idx: list[int]
    responses_without_baseline: int
    baseline_without_response: int
    prompt_mismatch: int = 0  # rows paired by id whose prompts differ (whitespace-insensitive)
    first_mismatch: str = ""  # the id of the first


def pair(resp: Responses, base: Responses) -> Pairing:
    """Pair rows by id when both files have one, else by prompt text; the k-th repeat of a key pairs with the k-th."""
    if resp.has_id and base.has_id:
        key = "id"
    elif resp.has_prompt and base.has_prompt:
        key = "prompt"
    else:
        raise UserError(
            f"{base.path}: cannot pair with {resp.path}: the files share neither an id column nor a prompt column"
        )

    def keyed(t: pd.DataFrame) -> pd.DataFrame:
        k = t[key].map(_squash) if key == "prompt" else t[key]
        return pd.DataFrame({"k": k, "occ": k.groupby(k).cumcount(), "row": np.arange(len(t))})

    merged = keyed(resp.table).merge(keyed(base.table), on=["k", "occ"], how="inner", suffixes=("_r", "_b"))
    merged = merged.sort_values("row_r")
    if merged.empty:
        raise UserError(f"{base.path}: no row pairs with a row of {resp.path} by {key}")
    n_pairs = len(merged)
    mismatch, first = 0, ""
    if key == "id" and resp.has_prompt and base.has_prompt:
        rp = resp.table["prompt"].map(_squash).to_numpy()[merged["row_r"].to_numpy()]
        bp = base.table["prompt"].map(_squash).to_numpy()[merged["row_b"].to_numpy()]
        differ = np.flatnonzero(rp != bp)
        mismatch = len(differ)
        first = str(merged["k"].iloc[differ[0]]) if mismatch else ""
    return Pairing(
        prompt_mismatch=mismatch,
        first_mismatch=first,
        key=key,
        resp_idx=merged["row_r"].astype(int).tolist(),
        base_idx=merged["row_b"].astype(int).tolist(),
        responses_without_baseline=len(resp.table) - n_pairs,
        baseline_without_response=len(base.table) - n_pairs,
    )


@dataclass
class ScoreResult:
    responses: Responses
    baseline: Responses | None
    judges: list[str]
    rows: list[dict]  # one per judge: the metric fields
    kappa: dict[str, dict[str, float]]
    categories: list[dict]  # judge, category, n, refusals, rrr, rrr_ci_low, rrr_ci_high
    samples: list[dict]
    findings: dict = field(default_factory=dict)


def score(
    resp: Responses,
    judges: Sequence[str] = DEFAULT_JUDGES,
    baseline: Responses | None = None,
    *,
    seed: int = 0,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    target: str | None = None,
) -> ScoreResult:
    """`target`: the attack's training target, when it had one: parroting is counted against it."""
    import rrs.judges.classifier  # noqa: F401  (registers classifier:sbert-logreg; torch loads only when used)

    _fixed_mmap_threshold()

    judges = list(dict.fromkeys(judges))
    for name in judges:
        get_judge(name)  # unknown names fail before any work
    benign = resp.subset("benign") if resp.has_set else None
    resp = _harmful(resp)
    baseline = _harmful(baseline) if baseline is not None else None
    texts = resp.table["response"].tolist()
    labelled = {name: label(name, texts) for name in judges}
    degenerate = [q.degenerate(t) for t in texts]
    rows = _judge_rows(texts, judges, labelled, target, degenerate)
    findings: dict = {"responses": quality(resp, target, degenerate)} | ({"target": target} if target else {})
    benign_labelled = _over_refusal(rows, benign, judges, findings, len(resp.table)) if benign is not None else {}
    rd_per_row: list[float | None] = [None] * len(texts)
    if baseline is not None:
        rd_per_row = _drift(rows, resp, baseline, judges, findings, embed or default_embed, seed, target)
    kappa = {a: {b: cohen_kappa(labelled[a][0], labelled[b][0]) for b in judges} for a in judges}
    categories = _categories(resp, judges, {k: v[0] for k, v in labelled.items()})
    samples = _samples(resp, judges, labelled, rd_per_row if baseline is not None else None)
    if benign_labelled:
        samples += _samples(benign, judges, benign_labelled, [None] * len(benign.table) if baseline else None)
    return ScoreResult(resp, baseline, judges, rows, kappa, categories, samples, findings)


def _judge_rows(texts: list[str], judges: list[str], labelled: dict, target: str | None,
                degenerate: list[bool]) -> list[dict]:
    """Per judge: rrr, ce, delay, entropy (rrs/measure/judging.py), degenerate (the rows' flags), compliance and,
    with a target, parroting."""
    return [judge_metrics(name, texts, *labelled[name]) | rate_fields("degenerate", degenerate)
            | rate_fields("compliance", [q.compliant(r, d, None) for r, d in zip(labelled[name][0], degenerate,
                                                                                   strict=True)])
            | (rate_fields("parroting", [q.parroting(t, target) for t in texts]) if target else {})
            for name in judges]


def _over_refusal(rows: list[dict], benign: Responses, judges: list[str], findings: dict, harmful_n: int) -> dict:
    """Add each judge's over_refusal on the benign rows to its row; returns the benign labels per judge."""
    findings["sets"] = {"harmful": harmful_n, "benign": len(benign.table)}
    btexts = benign.table["response"].tolist()
    benign_labelled = {name: label(name, btexts) for name in judges} if btexts else {}
    for row, name in zip(rows, judges, strict=True):
        row["over_refusal_n"] = len(btexts)
        if btexts:
            row.update(rate_fields("over_refusal", benign_labelled[name][0]))
    return benign_labelled


def _drift(rows: list[dict], resp: Responses, baseline: Responses, judges: list[str], findings: dict,
           embed: Callable[[list[str]], np.ndarray], seed: int, target: str | None) -> list[float | None]:
    """Pair responses with the baseline, add rd (and the baseline's rrr) to each judge's row; returns rd per row."""
    texts = resp.table["response"].tolist()
    findings["baseline"] = quality(baseline, target)
    pairing = pair(resp, baseline)
    base_texts = baseline.table["response"].tolist()
    drift = response_drift([base_texts[i] for i in pairing.base_idx], [texts[i] for i in pairing.resp_idx], embed,
                           seed)
    rd_per_row: list[float | None] = [None] * len(texts)
    for i, v in zip(pairing.resp_idx, drift.per_pair, strict=True):
        rd_per_row[i] = v
    findings["pairing"] = {
        "key": pairing.key,
        "paired": len(pairing.resp_idx),
        "responses_without_baseline": pairing.responses_without_baseline,
        "baseline_without_response": pairing.baseline_without_response,
        "prompt_mismatch": pairing.prompt_mismatch,
    } | ({"first_prompt_mismatch_id": pairing.first_mismatch} if pairing.prompt_mismatch else {})
    for row, name in zip(rows, judges, strict=True):
        base_labels, _ = label(name, base_texts)
        row.update({"baseline_n": len(base_texts), "baseline_rrr": rate(base_labels).value} | drift_fields(drift))
    return rd_per_row


def _fixed_mmap_threshold(nbytes: int = 1 << 20) -> None:
    """glibc raises its mmap threshold each time a large block is freed, so the activations of embedding batches of
    varying length end up in the heap, fragment it and the peak memory grows with the number of texts embedded.
    Fixing the threshold returns each large block to the system when freed. No effect off glibc."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(-3, nbytes)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _harmful(r: Responses) -> Responses:
    """A file with a set column: its harmful rows (what rrr, rd and the findings are about)."""
    if not r.has_set:
        return r
    sub = r.subset("harmful")
    if sub.table.empty:
        raise UserError(f"{r.path}: no row has set 'harmful' (column {r.columns['set']!r}): nothing to score")
    return sub


def _categories(resp: Responses, judges: list[str], labels: dict[str, list[bool]]) -> list[dict]:
    cats = resp.table["category"].tolist()
    if not any(cats):
        return []
    out = []
    for name in judges:
        for cat in sorted(set(cats)):
            sub = [lab for lab, c in zip(labels[name], cats, strict=True) if c == cat]
            r = rate(sub)
            out.append({"judge": name, "category": cat, "n": r.n, "refusals": r.k, **rate_fields("rrr", sub)})
    return out


def _samples(resp: Responses, judges: list[str], labelled: dict, rd: list[float | None] | None) -> list[dict]:
    t = resp.table
    rows = []
    for i in range(len(t)):
        row = {k: t[k].iloc[i] for k in ("id", "prompt", "response", "category")}
        if resp.has_set:
            row["set"] = t["set"].iloc[i]
        for name in judges:
            labels, proba = labelled[name]
            row[f"refusal:{name}"] = bool(labels[i])
            if proba is not None:
                row[f"p_refusal:{name}"] = float(proba[i])
        if rd is not None:
            row["rd"] = rd[i]
        rows.append(row)
    return rows


def _clean(v):
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def json_records(result: ScoreResult) -> list[dict]:
    """One JSON-ready object per judge: its metrics, its kappa row, its categories, and the findings."""
    out = []
    for row in result.rows:
        name = row["judge"]
        rec = {k: _clean(v) for k, v in row.items()}
        rec["kappa"] = {b: _clean(v) for b, v in result.kappa[name].items() if b != name}
        rec["categories"] = {
            c["category"]: {k: _clean(c[k]) for k in ("n", "refusals", "rrr", "rrr_ci_low", "rrr_ci_high")}
            for c in result.categories
            if c["judge"] == name
        }
        rec["findings"] = result.findings
        out.append(rec)
    return out


def write_outputs(result: ScoreResult, outdir: str | Path) -> list[Path]:
    """scores.csv, kappa.csv, categories.csv (when categories exist), findings.json, samples.jsonl; each atomic."""
    outdir = Path(outdir)
    files = {
        "scores.csv": pd.DataFrame(result.rows).to_csv(index=False, float_format="%.6g"),
        "kappa.csv": pd.DataFrame(result.kappa).T.rename_axis("judge").to_csv(float_format="%.6g"),
        "findings.json": atomic.dumps_json(result.findings),
    }
    if result.categories:
        files["categories.csv"] = pd.DataFrame(result.categories).to_csv(index=False, float_format="%.6g")
    written = []
    for name, text in files.items():
        atomic.write_text(outdir / name, text)
        written.append(outdir / name)
    with atomic.staged_file(outdir / "samples.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for s in result.samples:  # streamed: a large file is never held twice in memory
            fh.write(json.dumps({k: _clean(v) for k, v in s.items()}, sort_keys=True, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    written.append(outdir / "samples.jsonl")
    return written


FINDING_TEXT = {
    "echoed_prompt": "responses begin by repeating their prompt",
    "empty_response": "responses are empty (blank, JSON null or NaN)",
    "degenerate": "responses are degenerate (empty, or looping: a word 4+ times in a row, a phrase 3+ times back to "
                  "back, or half their 4-grams repeated): not compliance",
    "parroting": "responses repeat the attack's target (at least half their words copy it)",
    "duplicate_prompt": "rows repeat a prompt of an earlier row",
    "duplicate_id": "rows repeat an id of an earlier row",
}


def _num(v: float, fmt: str = "{:.3f}") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def format_report(result: ScoreResult) -> str:
    """Human-readable summary: metrics per judge, kappa matrix, categories, findings (with counts)."""
    lines = _head_lines(result) + _metric_lines(result) + _kappa_lines(result) + _category_lines(result)
    return "\n".join(lines + _finding_lines(result)) + "\n"


def _head_lines(result: ScoreResult) -> list[str]:
    lines = [
        f"responses: {result.responses.path} ({len(result.responses.table)} rows, sha256 {result.responses.sha256})"
    ]
    if result.baseline is not None:
        p = result.findings["pairing"]
        lines.append(
            f"baseline:  {result.baseline.path} ({len(result.baseline.table)} rows, sha256 {result.baseline.sha256}); "
            f"{p['paired']} paired by {p['key']}"
        )
    return lines


def _metric_lines(result: ScoreResult) -> list[str]:
    head = f"{'judge':<32} {'n':>6} {'rrr':>6} {'95% CI':>15} {'ce':>6} {'delay':>6} {'cal.ent':>7}"
    if result.baseline is not None:
        head += f" {'base rrr':>8} {'rd':>6} {'rd_mean':>7} {'rd_n':>6}"
    lines = ["", head]
    for r in result.rows:
        ci = f"[{r['rrr_ci_low']:.3f}, {r['rrr_ci_high']:.3f}]"
        line = (
            f"{r['judge']:<32} {r['n']:>6} {r['rrr']:>6.3f} {ci:>15} "
            f"{r['ce']:>6.3f} {_num(r['refusal_delay']):>6} {_num(r['calibration_entropy']):>7}"
        )
        if "rd" in r:
            line += f" {r['baseline_rrr']:>8.3f} {_num(r['rd'], '{:.4f}'):>6} {_num(r['rd_mean'], '{:.4f}'):>7}"
            line += f" {r['rd_valid_n']:>6}"
        lines.append(line)
    if "sets" in result.findings:
        sets = result.findings["sets"]
        lines.append(f"  set column: the {sets['harmful']} harmful rows are scored above; the {sets['benign']} "
                     "benign rows are scored apart (over_refusal: their refusal rate)")
        lines += [f"  over_refusal {r['judge']:<32} {_num(r.get('over_refusal'))} of {r['over_refusal_n']}"
                  for r in result.rows]
    reasons = {r["refusal_delay_reason"] for r in result.rows} | {r.get("rd_reason", "") for r in result.rows}
    return lines + [f"  n/a: {reason}" for reason in sorted(reasons - {""})]


def _kappa_lines(result: ScoreResult) -> list[str]:
    if len(result.judges) <= 1:
        return []
    lines = ["", "Cohen's kappa between judges"]
    short = [f"j{i + 1}" for i in range(len(result.judges))]
    lines.append(f"{'':<36}" + "".join(f"{s:>7}" for s in short))
    for s, a in zip(short, result.judges, strict=True):
        lines.append(
            f"{s + ' ' + a:<36}" + "".join(f"{_num(result.kappa[a][b], '{:.2f}'):>7}" for b in result.judges)
        )
    if any(math.isnan(v) for row in result.kappa.values() for v in row.values()):
        lines.append("  n/a: both judges give the same single label to every response (chance agreement is 1)")
    return lines


def _category_lines(result: ScoreResult) -> list[str]:
    if not result.categories:
        return []
    lines = ["", "Refusal rate per category"]
    cats = sorted({c["category"] for c in result.categories})
    by = {(c["judge"], c["category"]): c for c in result.categories}
    lines.append(f"{'category':<24}{'n':>5}" + "".join(f"{f'j{i + 1}':>7}" for i in range(len(result.judges))))
    for cat in cats:
        n = by[(result.judges[0], cat)]["n"]
        lines.append(
            f"{cat or '(none)':<24}{n:>5}" + "".join(f"{by[(j, cat)]['rrr']:>7.2f}" for j in result.judges)
        )
    return lines


def _finding_lines(result: ScoreResult) -> list[str]:
    lines = ["", "Data-quality findings"]
    for side in ("responses", "baseline"):
        q = result.findings.get(side)
        if q is None:
            continue
        for key, text in FINDING_TEXT.items():
            if key not in q:
                continue
            flag = "!" if q[key] else " "
            lines.append(f" {flag} {side}: {q[key]} of {q['rows']} {text}")
    if "pairing" in result.findings:
        p = result.findings["pairing"]
        for key, text in (
            ("responses_without_baseline", "response rows have no baseline row"),
            ("baseline_without_response", "baseline rows have no response row"),
            ("prompt_mismatch", "rows paired by id have another prompt in the baseline"),
        ):
            flag = "!" if p[key] else " "
            first = f" (first: id {p['first_prompt_mismatch_id']!r})" if key == "prompt_mismatch" and p[key] else ""
            lines.append(f" {flag} pairing: {p[key]} {text}{first}")
    return lines
