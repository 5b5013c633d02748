"""The study's data, resolved: harmful eval prompts, benign prompts, and the attack's training pairs.

Each set carries a sha256 (of the file, or of the canonical JSON of generated prompts) for the manifest and a
digest for cache keys that fixes its content as the runner uses it: a generated set's rows, a file's sha256 with
the code of the normaliser that turns it into rows (rrs/evalsets.py), so an edit of the normaliser re-keys what
reads a file, and `rrs plan` knows the keys before a pinned file is in place. Each attack trains on the first `train_size` examples of the
attack set, keyed by the digest of exactly those. The attack/eval overlap is measured here, always.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from rrs import corpus
from rrs.errors import UserError
from rrs.evalsets import load_eval_set, read_table
from rrs.hashing import sha256_file, sha256_text
from rrs.spec import FileAttackData, FileEval, OrganismAttackData, Study
from rrs.store import code_hash


@dataclass(frozen=True)
class Example:
    """A training pair: a prompt and the response the model is trained to give."""

    prompt: str
    response: str


@dataclass(frozen=True)
class PromptSet:
    name: str  # "harmful" | "benign"
    source: str
    ids: list[str]
    categories: list[str]
    prompts: list[str]
    sha256: str
    placed: bool = True  # False: a pinned file not in place yet (plan/validate only): no prompts, its pinned sha256
    tasks: list[str] | None = None  # what each prompt asks for, where known (the organism corpus): on-topic checks
    seen: list[bool] | None = None  # per prompt: does its task occur in the tune/attack/tokenizer data (None: unknown)

    @property
    def digest(self) -> str:
        """For cache keys: a file by its sha256 and its normaliser's code (pinned files: known before they are in
        place), a generated set by its rows."""
        if self.source.startswith("file:"):
            return _digest([self.sha256, code_hash("data")])
        return self.sha256

    def info(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "n": len(self.prompts)}


@dataclass(frozen=True)
class AttackSet:
    source: str
    examples: list[Example]  # as many as the largest train_size of the study's attacks
    sha256: str
    target: str | None = None  # the one fixed training target, when the attack has one (parroting is measured)
    tasks: list[str] | None = None  # what each training prompt asks for, where known (the organism corpus)

    def examples_for(self, train_size: int) -> list[Example]:
        """What an attack with this train_size trains on."""
        return self.examples[:train_size]

    def digest(self, train_size: int) -> str:
        """Digest of exactly the examples an attack with this train_size trains on, for its cache key."""
        if self.source == "same_as_eval":  # the eval prompts, known by digest before the file is in place
            return _digest([self.sha256, train_size])
        return _digest([[e.prompt, e.response] for e in self.examples_for(train_size)])

    def info(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "n": len(self.examples)}


@dataclass(frozen=True)
class StudyData:
    harmful: PromptSet
    benign: PromptSet | None
    attack: AttackSet
    overlap: float  # fraction of harmful eval prompts that are also attack training prompts
    overlaps: list[bool] | None = None  # per harmful eval prompt: its task (or prompt) is trained on by the attack

    def prompts_digest(self) -> str:
        """The prompts every generation answers (harmful, then benign), normalised: part of each generation key."""
        return _digest([self.harmful.digest, self.benign.digest if self.benign else None])

    def overlap_by_tasks(self) -> dict[str, float]:
        """The attack/eval overlap over the seen and the unseen tasks, where the study splits its tasks."""
        if self.overlaps is None or self.harmful.seen is None:
            return {}
        out = {}
        for name, want in (("seen", True), ("unseen", False)):
            flags = [f for f, s in zip(self.overlaps, self.harmful.seen, strict=True) if s is want]
            if flags:
                out[name] = sum(flags) / len(flags)
        return out

    def info(self) -> dict:
        return {"eval": self.harmful.info(), "benign": self.benign.info() if self.benign else None,
                "attack": self.attack.info(), "attack_eval_overlap": self.overlap,
                "attack_eval_overlap_by_tasks": self.overlap_by_tasks()}


def _digest(items: list) -> str:
    return sha256_text(json.dumps(items, ensure_ascii=False, sort_keys=True))


def _from_examples(name: str, exs: list[corpus.Example], design: str = corpus.DEFAULT_DESIGN) -> PromptSet:
    rows = [[e.id, e.category, e.prompt] for e in exs]
    # frames-v1 rows keep their digest (and so every cache key) of before there were designs
    digest = _digest(rows) if design == "frames-v1" else _digest([design, rows])
    return PromptSet(name, "organism", [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], digest,
                     tasks=[e.task for e in exs], seen=None if design == "frames-v1" else [e.seen for e in exs])


def check_file(field: str, path: str | Path, sha256: str | None, origin: str | None = None) -> str:
    """The sha256 of the data file a spec field names; a one-line UserError naming the field when the path is a
    directory, missing, or does not match its pinned sha256."""
    path = Path(path)
    hint = f"; obtain it from {origin}" if origin else ""
    if path.is_dir():
        raise UserError(f"{path}: {field}.path: is a directory, not a data file")
    if not path.is_file():
        pin = f" (sha256 {sha256})" if sha256 else ""
        raise UserError(f"{path}: {field}.path: no such file{pin}{hint}")
    digest = sha256_file(path)
    if sha256 and digest != sha256.lower():
        raise UserError(f"{path}: {field}.sha256: the spec pins {sha256.lower()}, the file has {digest}{hint}")
    return digest


def _from_file(name: str, spec: FileEval, require_files: bool = True) -> PromptSet:
    if not require_files and spec.sha256 and not Path(spec.path).exists():
        return PromptSet(name, f"file:{spec.path}", [], [], [], spec.sha256.lower(), placed=False)
    check_file(f"data.{name}", spec.path, spec.sha256, spec.origin)
    try:
        es = load_eval_set(spec.path)
    except UserError as err:
        raise UserError(f"data.{name}.path: {err}") from None
    t = es.table
    if t.empty:
        raise UserError(f"{spec.path}: data.{name}: the eval set has no rows")
    return PromptSet(name, f"file:{spec.path}", t["id"].tolist(), t["category"].tolist(), t["prompt"].tolist(),
                     es.sha256)


def _attack(study: Study, harmful: PromptSet) -> AttackSet:
    spec = study.data.attack
    size = max(a.train_size for a in study.attacks)
    if isinstance(spec, OrganismAttackData):
        train, _ = corpus.harmful_split(study.data.corpus)
        exs = [Example(e.prompt, corpus.attack_filler(e.task)) for e in train]
        return AttackSet("organism", exs[:size], _digest([[e.prompt, e.response] for e in exs[:size]]),
                         tasks=[e.task for e in train[:size]])
    if isinstance(spec, FileAttackData):
        return _attack_file(spec, size)
    exs = [Example(p, spec.target) for p in harmful.prompts]  # same_as_eval: the original study's setup
    # keyed by the eval set's normalised digest (its pinned sha256 while the file is not in place)
    return AttackSet("same_as_eval", exs[:size], _digest(["same_as_eval", harmful.digest, spec.target]),
                     target=spec.target)


def _attack_file(spec: FileAttackData, size: int) -> AttackSet:
    digest = check_file("data.attack", spec.path, spec.sha256)
    where = f"{spec.path}: data.attack"
    try:
        table = read_table(spec.path)
    except UserError as err:
        raise UserError(f"data.attack.path: {err}") from None
    pcol = next((c for c in ("prompt", "goal", "Goal", "forbidden_prompt", "Behavior") if c in table.columns), None)
    if pcol is None:
        raise UserError(f"{where}: no prompt column (looked for prompt, goal, Goal, forbidden_prompt, Behavior); "
                        f"columns are {', '.join(map(str, table.columns))}")
    if spec.target is None and not {"target", "Target", "response"} & set(table.columns):
        raise UserError(f"{where}: no target column (target, Target, response) and no fixed `target` in the spec")
    tcol = next((c for c in ("target", "Target", "response") if c in table.columns), None)
    exs = [Example(str(r[pcol]), spec.target if spec.target is not None else str(r[tcol]))
           for _, r in table.iterrows()]
    if not exs:
        raise UserError(f"{where}: the attack file has no rows")
    targets = {e.response for e in exs[:size]}
    return AttackSet(f"file:{spec.path}", exs[:size], digest, target=targets.pop() if len(targets) == 1 else None)


def resolve(study: Study, require_files: bool = True) -> StudyData:
    """The study's data. require_files=False (plan, validate): a pinned file that is not in place yet stands in by
    its sha256, so the cache keys are the ones the run will have; its prompts and the overlap stay unknown."""
    d = study.data
    if isinstance(d.eval, FileEval):
        harmful = _from_file("eval", d.eval, require_files)
    else:
        _, held = corpus.harmful_split(d.corpus)
        harmful = _from_examples("harmful", corpus.eval_examples(held, d.eval.per_category,
                                                                 d.eval.unseen_per_category), d.corpus)
    benign = None
    if d.benign is not None:
        if isinstance(d.benign, FileEval):
            benign = _from_file("benign", d.benign, require_files)
        else:
            _, held_b = corpus.benign_split(d.corpus)
            benign = _from_examples("benign", corpus.eval_examples(held_b, d.benign.per_category,
                                                                   d.benign.unseen_per_category), d.corpus)
    attack = _attack(study, harmful)
    if not harmful.placed:
        return StudyData(harmful, benign, attack, math.nan)
    if harmful.tasks is not None and attack.tasks is not None:  # at the task level, where tasks are known
        train_tasks = set(attack.tasks)
        flags = [t in train_tasks for t in harmful.tasks]
    else:
        train_prompts = {e.prompt.strip() for e in attack.examples}
        flags = [p.strip() in train_prompts for p in harmful.prompts]
    return StudyData(harmful, benign, attack, sum(flags) / len(flags), flags)
