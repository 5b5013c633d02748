"""Preflight: every output and cache path a verb will write is checked before any compute, and temp entries that
killed runs left in the stage cache are removed.

A path fails with one line naming the option (`--out`, `--cache`, `RRS_CACHE`) when it is a file, sits under a
file, or its nearest existing folder cannot be written (probed by creating and removing a temp file, so it holds
for root and for read-only mounts alike). Nothing is created by the checks.

Stale temp entries (`.<name>.<random>.tmp[.<ext>]`, from rrs.atomic) are removed only while no other rrs process
uses the cache: each run holds a shared advisory lock on `<cache>/.lock` for its lifetime and cleans only when it
can take the lock exclusively first, so a concurrent run's temp files are never touched. The lock dies with its
process, so a killed run never blocks the next one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from rrs.errors import UserError
from rrs.store import cache_root

MIB = 1 << 20
OUT_MIN_FREE = 64 * MIB  # a run's outputs (results, samples, figures): artifacts/smoke takes under 10 MiB
CACHE_MIN_FREE = 256 * MIB  # the stage cache (weights, adapters, generations), before any model-size estimate
STAGING = ".{name}.staging."  # + "<pid>." + random: the folder beside --out where a run assembles its outputs
STAGING_STALE_S = 24 * 3600  # a staging folder whose owner cannot be told (another host's pid) is stale after this
TEMP_ENTRY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)?$")
MANIFEST_MAX = 256 * MIB  # a manifest larger than this is not read for its file list
CLEAN_DEPTH = 3  # <cache>/<stage>/<key>/<entry>: where rrs.atomic puts its temp files and folders
_HELD: dict[Path, int] = {}  # cache root -> fd holding the shared lock for this process


def _probe(folder: Path) -> str | None:
    """Why nothing can be written in `folder` (None when a temp file can be created there)."""
    try:
        fd, name = tempfile.mkstemp(prefix=".rrs-preflight.", dir=folder)
    except OSError as err:
        return err.strerror or type(err).__name__
    os.close(fd)
    os.unlink(name)
    return None


def writable_dir(path: str | Path, what: str, need: int = 0) -> Path:
    """`path` is a folder rrs may write into, or can be created as one, on a filesystem with at least `need` bytes
    free; else a one-line UserError naming `what`."""
    path = Path(path)
    if str(path) in ("", "."):
        raise UserError(f"{what} {str(path)!r}: name a folder (not the current directory)")
    if path.is_symlink() and not path.exists():
        raise UserError(f"{what} {path}: is a symbolic link to {os.readlink(path)}, which does not exist")
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path}: exists and is not a directory")
    nearest = path
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        raise UserError(f"{what} {path}: {nearest} is a file, not a directory")
    why = _probe(nearest)
    if why:
        raise UserError(f"{what} {path}: {nearest} is not writable ({why})")
    free = shutil.disk_usage(nearest).free
    if free < need:
        raise UserError(f"{what} {path}: {free / MIB:.0f} MiB free on its filesystem; a run needs at least "
                        f"{need / MIB:.0f} MiB there (estimate)")
    return path


def inside(path: Path, root: Path, what: str) -> Path:
    """`path`, proven to resolve inside `root` (symbolic links followed) before anything is written there."""
    real, base = Path(os.path.realpath(path)), Path(os.path.realpath(root))
    if real != base and base not in real.parents:
        raise UserError(f"{what} {root}: refusing to write {path}, which resolves outside it ({real})")
    return path


def out_dir(out: str | Path, what: str = "--out", staging: bool = True, cache: Path | None = None) -> None:
    """An output folder; with `staging`, also the folder beside it where the runner assembles outputs first; with
    `cache`, not inside the stage cache (whose temp entries a later run removes)."""
    out = Path(out)
    writable_dir(out, what, OUT_MIN_FREE)
    if cache is not None:
        real, root = Path(os.path.realpath(out)), Path(os.path.realpath(cache))
        if real == root or root in real.parents:
            raise UserError(f"{what} {out}: is inside the stage cache {cache}; write results elsewhere")
    parent = out.absolute().parent
    if staging and out.exists() and (why := _probe(parent)):
        raise UserError(f"{what} {out}: outputs are staged beside it, in {parent}, which is not writable ({why})")


def cache_dir(cache: str | Path | None, write: bool = True) -> Path:
    """The stage cache (--cache, else $RRS_CACHE, else .cache/rrs): a folder, writable when the verb writes."""
    what = "--cache" if cache else "RRS_CACHE" if os.environ.get("RRS_CACHE") else "cache"
    root = cache_root(cache)
    if not write:
        if root.exists() and not root.is_dir():
            raise UserError(f"{what} {root}: exists and is not a directory")
        return root
    return writable_dir(root, what, CACHE_MIN_FREE)


def study_paths(spec_path: str | Path, out: str | Path | None, cache: str | Path | None) -> Path:
    """Everything `reproduce`/`run` will write: --out (default out/<study>), its staging folder, the cache. Creates
    nothing: the run claims the cache (claim_cache) once its spec and data have loaded."""
    from rrs.spec import load_spec

    study = load_spec(spec_path)
    bounds(study, spec_path)
    if out is None:
        out = Path("out") / study.study
    out_dir(out, cache=cache_root(cache))
    cache_dir(cache)
    return Path(out)


def claim_cache(root: Path) -> list[Path]:
    """Hold a shared lock on the cache for this process; first, when no other process holds it, remove the stale
    temp entries of killed runs. Returns what was removed."""
    import fcntl

    root = Path(root).absolute()
    if (old := _HELD.pop(root, None)) is not None:
        os.close(old)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return []
    removed: list[Path] = []
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        pass  # another run uses the cache: its temp entries may be live
    else:
        removed = stale_entries(root)
        for p in removed:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        return removed
    _HELD[root] = fd
    return removed


def stale_entries(root: Path) -> list[Path]:
    """Temp files and folders of rrs.atomic under the cache (to CLEAN_DEPTH levels); none is descended into."""
    found: list[Path] = []

    def walk(folder: Path, depth: int) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if TEMP_ENTRY.match(e.name):
                found.append(Path(e.path))
            elif depth < CLEAN_DEPTH and e.is_dir(follow_symlinks=False):
                walk(Path(e.path), depth + 1)

    walk(root, 1)
    return found


# ---------------------------------------------------------------- staging folders and what a run wrote


def staging_prefix(out: Path) -> str:
    """The name prefix of this process's staging folder beside `out` (it carries the owner's pid)."""
    return STAGING.format(name=Path(out).name) + f"{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def dead_staging(out: Path, now: float | None = None) -> list[Path]:
    """Staging folders beside `out` that no live run owns: the pid in the name is not a running process, or the
    name carries no pid (an older rrs) and the folder is older than STAGING_STALE_S."""
    out = Path(out).absolute()
    prefix = STAGING.format(name=out.name)
    now = time.time() if now is None else now
    found = []
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return []
    for e in entries:
        if not e.name.startswith(prefix) or not e.is_dir(follow_symlinks=False):
            continue
        pid, _, rest = e.name[len(prefix):].partition(".")
        if rest and pid.isdigit() and pid != "0":
            stale = not _alive(int(pid)) and int(pid) != os.getpid()
        else:
            try:
                stale = now - e.stat(follow_symlinks=False).st_mtime > STAGING_STALE_S
            except OSError:
                stale = False
        if stale:
            found.append(Path(e.path))
    return sorted(found)


def remove_dead_staging(out: Path) -> list[Path]:
    """Remove the staging folders that killed runs left beside `out`; returns them."""
    gone = dead_staging(out)
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


def _listed_files(out: Path) -> set[Path] | None:
    """The files an earlier run's manifest.json lists (`files`: [{"path": ...}, ...], relative to `out`); None when
    there is no manifest or it has no such list. A listed path that is absolute or climbs out of `out` is ignored."""
    man = out / "manifest.json"
    try:
        if not man.is_file() or man.stat().st_size > MANIFEST_MAX:
            return None
        data = json.loads(man.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list):
        return None
    listed = set()
    for f in files:
        rel = f.get("path") if isinstance(f, dict) else None
        if not isinstance(rel, str) or not rel or "\0" in rel:
            continue
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts or p.parts[:1] == (".",):
            continue
        listed.add(p)
    return listed | {Path("manifest.json")}


def written_by_rrs(out: Path) -> set[Path]:
    """The files under `out` (relative to it) that an earlier run of rrs wrote, the only ones a run may remove: what
    its manifest lists, or, for an output without such a list, the paths the output contract produces (the run's
    files, samples/<model>/<attack>/seed<n>/steps<n>.jsonl, figures/<figure>.png|pdf)."""
    from rrs.artifact.contract import OUTPUT_DIRS, OUTPUT_FILES, SAMPLE_PATH, run_files
    from rrs.figures.grid import FIGURES

    listed = _listed_files(out)
    if listed is not None:
        return {p for p in listed if (out / p).is_file() or (out / p).is_symlink()}
    figures = {f"figures/{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")}
    own = set(OUTPUT_FILES) | {"results.json"}
    return {p for p in run_files(out) | {Path(n) for n in own if (out / n).is_file()}
            if str(p) in own or str(p) in figures or SAMPLE_PATH.match(p.as_posix())
            and p.parts[0] in OUTPUT_DIRS}


# ---------------------------------------------------------------- bounds: memory and time before any compute

CPU_FLOPS = 1e11  # assumed sustained FLOP/s of one CPU run (a labelled estimate, not a measurement)
TIME_LIMIT_S = 30 * 86400  # a run whose CPU training estimate exceeds this is refused: split it or use a GPU
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or the cgroup's limit where lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def _shape(m) -> dict | None:
    """hidden, layers, intermediate, vocab and bytes per weight of a model, known without loading it."""
    from rrs.spec import OrganismModel, _local_config

    if isinstance(m, OrganismModel):
        return {"hidden": m.hidden, "layers": m.layers, "inter": m.intermediate or 4 * m.hidden,
                "vocab": m.vocab_size, "bytes": 4, "seq": 128, "batch": m.tune_batch, "steps": m.tune_steps}
    cfg = _local_config(m) if m.gguf is None else None
    keys = ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size")
    if not cfg or not all(isinstance(cfg.get(k), int) and cfg[k] > 0 for k in keys):
        return None
    return {"hidden": cfg["hidden_size"], "layers": cfg["num_hidden_layers"], "inter": cfg["intermediate_size"],
            "vocab": cfg["vocab_size"], "bytes": DTYPE_BYTES[m.dtype], "seq": 0, "batch": 0, "steps": 0}


def _params(sh: dict) -> int:
    h, n, i, v = sh["hidden"], sh["layers"], sh["inter"], sh["vocab"]
    return v * h + n * (4 * h * h + 3 * h * i + 2 * h) + h


def _train_bytes(sh: dict, params: int, batch: int, seq: int, full: bool) -> int:
    """Weights (+ gradients and two Adam moments when every weight trains) and activations of one step."""
    weights = params * (16 if full else sh["bytes"])
    acts = batch * seq * (sh["layers"] * (16 * sh["hidden"] + 3 * sh["inter"]) + 3 * sh["vocab"]) * 4
    return weights + acts


def bounds(study, spec_path: str | Path) -> None:
    """Refuse, before any compute, a model whose memory estimate exceeds this machine's memory or whose CPU
    training estimate exceeds TIME_LIMIT_S (runtime.device cpu only: a GPU's memory is not known without torch).
    Models whose shape is not known before they are fetched are not estimated."""
    if study.runtime.device != "cpu":
        return
    limit = machine_memory()
    for i, m in enumerate(study.models):
        sh = _shape(m)
        if sh is None:
            continue
        params = _params(sh)
        steps = [(f"models[{i}]", "safety-tuning", sh["batch"], sh["seq"], True, sh["steps"])] if sh["steps"] else []
        steps += [(f"attacks[{j}]", "attack training", a.batch, a.seq_len, False, a.steps[-1] * a.grad_accum
                   * len(study.seeds_of(a))) for j, a in enumerate(study.attacks) if a in study.attacks_of(m.name)]
        ctx = study.decoding.max_new_tokens + 256  # a prompt's share of the context, roughly
        gen = params * sh["bytes"] + study.decoding.batch_size * ctx * sh["layers"] * 2 * sh["hidden"] * 4
        worst = max([(gen, "decoding", "decoding")] + [(_train_bytes(sh, params, b, q, full), what, where)
                                                      for where, what, b, q, full, _ in steps])
        if worst[0] > limit:
            raise UserError(f"{spec_path}: {worst[2]}: {worst[1]} of model {m.name!r} ({params:.3g} parameters) "
                            f"needs an estimated {worst[0] / 2**30:.3g} GiB of memory; this machine has "
                            f"{limit / 2**30:.3g} GiB")
        for where, what, b, q, _full, n in steps:
            seconds = 6 * params * b * q * n / CPU_FLOPS
            if seconds > TIME_LIMIT_S:
                raise UserError(f"{spec_path}: {where}: {what} of model {m.name!r} needs an estimated "
                                f"{seconds / 86400:.3g} days of CPU time (at an assumed {CPU_FLOPS:.0e} FLOP/s); "
                                f"the limit is {TIME_LIMIT_S / 86400:.0f} days")
