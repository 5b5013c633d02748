"""`rrs data SPEC --out DIR`: exactly what each stage of a study trains and evaluates on, as three JSONL files.

- safety_tune.jsonl: the safety tune's pairs (prompt, target), for every organism and every model with a
  `safety_tune` (none: an empty file); the same pairs for all of them (rrs/corpus.py safety_pairs).
- attack.jsonl: the first max(train_size) examples of the attack set (each attack trains on its first train_size).
- eval.jsonl: the harmful eval prompts, then the benign ones.
Every row has prompt, target (null in eval.jsonl), task, category, set and task_seen: in eval.jsonl whether the task
occurs in the tune or attack data (null where the data does not say what a prompt asks for: a file eval set). Rows are in the order the runner uses them; keys sorted; the bytes depend on the
spec alone. Torch-free.
"""

from __future__ import annotations

from pathlib import Path

from rrs import corpus
from rrs.atomic import dumps_jsonl, staged_dir, write_text
from rrs.data import StudyData, resolve
from rrs.errors import UserError
from rrs.spec import Study

FILES = ("safety_tune.jsonl", "attack.jsonl", "eval.jsonl")


def _row(prompt: str, target: str | None, task: str | None, category: str | None, set_: str,
         seen: bool | None) -> dict:
    return {"prompt": prompt, "target": target, "task": task, "category": category, "set": set_, "task_seen": seen}


def safety_rows(study: Study) -> list[dict]:
    tuned = [m for m in study.models if m.kind == "organism" or getattr(m, "safety_tune", None) is not None]
    if not tuned:
        return []
    return [_row(e.prompt, target, e.task, e.category, e.set, e.seen)
            for e, target in corpus.safety_pairs(study.data.corpus)]


def attack_rows(study: Study, data: StudyData) -> list[dict]:
    a = data.attack
    if a.source == "organism":
        train, _ = corpus.harmful_split(study.data.corpus)
        return [_row(x.prompt, x.response, e.task, e.category, "harmful", e.seen)
                for x, e in zip(a.examples, train, strict=False)]
    return [_row(x.prompt, x.response, None, None, "harmful", None) for x in a.examples]


def eval_rows(data: StudyData, trained: set[str]) -> list[dict]:
    """task_seen: the data's own flag (tasks-v2), else whether the task is among the trained tasks (where known)."""
    rows = []
    for ps in (data.harmful, data.benign):
        if ps is None:
            continue
        for j, prompt in enumerate(ps.prompts):
            task = ps.tasks[j] if ps.tasks else None
            seen = ps.seen[j] if ps.seen is not None else (task in trained if task is not None else None)
            rows.append(_row(prompt, None, task, ps.categories[j], ps.name, seen))
    return rows


def export_data(study: Study, out: str | Path) -> dict[str, int]:
    """Write the three files into `out` (a new or empty folder) all at once; return their row counts."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("exists and is not an empty folder: name a new one", where=str(out))
    data = resolve(study)
    safety, attack = safety_rows(study), attack_rows(study, data)
    trained = {r["task"] for r in safety + attack if r["task"] is not None}
    tables = {"safety_tune.jsonl": safety, "attack.jsonl": attack, "eval.jsonl": eval_rows(data, trained)}
    if out.exists():
        out.rmdir()
    with staged_dir(out) as tmp:
        for name in FILES:
            write_text(tmp / name, dumps_jsonl(tables[name]))
    return {name: len(rows) for name, rows in tables.items()}
