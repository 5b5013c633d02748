"""The reviewer's page (`rrs report`): one self-contained HTML file per study, rendered with Jinja2.

Built from two inputs only: the verdict object of `rrs check --json` (rrs/checks/verdict.py) and the artifact
folder. It does not import rrs.checks and never judges anything itself: what it shows as PASS or FAIL is the
verdict's. The verdict is read defensively (fields may be missing, failure kinds may be new): whatever is absent
is shown as absent. The artifact adds what a reviewer wants beside the verdict: the study's description, its
figures (PNG, embedded as data: URIs), per-category refusal rates and judge agreement recomputed for display from
samples/, the numerics fingerprint and reproductions, and provenance from manifest.json.

No JavaScript, no external request (no web font, script or stylesheet): the page opens offline. Torch-free.
"""

from __future__ import annotations

import base64
import csv
import json
import math
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from rrs.artifact.contract import GRID
from rrs.atomic import write_text
from rrs.errors import UserError

TEMPLATE = "report.html.j2"
REPORT_NAME = "report.html"
LAST_CHECK = "last_check.json"  # beside the default page: {"checked_at": ISO UTC, "verdict": …}, read by `rrs list`
CHECK_FOLDER = ".check"  # artifacts/.check/<study>/: the check's output beside, never inside, a published artifact
MAX_SAMPLE_BYTES = 64 * 2**20  # samples/ read for the per-category and agreement tables; larger: the tables are skipped
FIGURE_ORDER = ("RRR_compare", "CE_compare", "RD_compare", "COMPLIANCE_compare", "DEGENERATE_compare",
                "UTILITY_compare", "scaling_rrr", "scaling_fit")
SCALING = ("scaling_rrr", "scaling_fit")


def default_path(artifact: Path) -> Path:
    """The artifact's check folder: <parent>/.check/<name>/report.html (outside the artifact's closed file set)."""
    artifact = Path(artifact).resolve()
    return artifact.parent / CHECK_FOLDER / artifact.name / REPORT_NAME


def check_folder(artifact: Path) -> Path:
    return default_path(artifact).parent


def record_check(artifact: Path, verdict: dict, when: str) -> Path:
    """Keep `verdict` (of `artifact`, made at `when`) as the artifact's last check, for `rrs list`."""
    from rrs.atomic import write_json

    path = check_folder(artifact) / LAST_CHECK
    write_json(path, {"checked_at": when, "verdict": verdict})
    return path


def last_check(artifact: Path) -> tuple[dict, str] | None:
    """(the artifact's study entry of its last recorded verdict, when it was made), or None."""
    data = _dict(_read_json(check_folder(artifact) / LAST_CHECK))
    if not data or not isinstance(data.get("verdict"), dict):
        return None
    try:
        return pick_study(data["verdict"], artifact), str(data.get("checked_at", "?"))
    except UserError:
        return None


def _read_json(path: Path) -> Any:
    if not path.is_file():  # a FIFO or a device would block or never end
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _read_yaml(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list:
    return x if isinstance(x, list) else []


def _num(x: Any, digits: int = 4) -> str:
    if isinstance(x, bool) or x is None:
        return "—" if x is None else str(x)
    if isinstance(x, int | float):
        return "—" if isinstance(x, float) and not math.isfinite(x) else f"{x:.{digits}g}"
    return str(x)


def _status(ok: Any) -> str:
    return "PASS" if ok is True else "FAIL" if ok is False else "—"


def pick_study(verdict: dict, artifact: Path) -> dict:
    """The verdict's entry for `artifact` (matched by resolved result_dir, then by name), or the only one."""
    studies = [s for s in _list(_dict(verdict).get("studies")) if isinstance(s, dict)]
    target = Path(artifact).resolve()
    for s in studies:
        if isinstance(s.get("result_dir"), str) and Path(s["result_dir"]).resolve() == target:
            return s
    for s in studies:
        if Path(str(s.get("result_dir", ""))).name == target.name:
            return s
    if len(studies) == 1:
        return studies[0]
    raise UserError(f"the verdict holds no study for {artifact} (studies: "
                    f"{', '.join(str(s.get('result_dir')) for s in studies) or 'none'})")


def _check_words(check: Any) -> str:
    """A spec claim's check, in words: 'rrr at max steps <= 0.2 for every model (judge …)'."""
    parts = []
    for c in check if isinstance(check, list) else [check]:
        c = _dict(c)
        if not c:
            continue
        sel = ", ".join(f"{k} {v}" for k, v in _dict(c.get("select")).items() if v is not None)
        what = c.get("metric") or " ".join(str(c[k]) for k in ("quantity", "field") if c.get(k)) or "?"
        words = [str(what) + (f" ({c['kind'].replace('_', ' ')})" if c.get("kind") in ("fit", "size_ratio") else "")]
        if c.get("at_steps") is not None:
            words.append(f"at {c['at_steps']} steps")
        if c.get("op") is not None:
            words.append(f"{c['op']} {c.get('value')}")
        elif c.get("kind"):
            words.append(f"({c['kind']})")
        if c.get("over"):
            words.append(f"for {str(c['over']).replace('_', ' ')}")
        parts.append(" ".join(words) + (f" ({sel})" if sel else ""))
    return " AND ".join(parts)


def _claims(study: dict, spec: dict) -> list[dict]:
    by_id = {str(_dict(c).get("id")): _dict(c) for c in _list(spec.get("claims"))}
    return [{"id": str(c.get("id", "?")), "text": str(c.get("text", "")),
             "falsifier": str(by_id.get(str(c.get("id")), {}).get("falsifier") or "not stated in the spec"),
             "check": _check_words(by_id.get(str(c.get("id")), {}).get("check")),
             "numbers": str(c.get("detail", "")), "status": _status(c.get("ok"))}
            for c in _list(study.get("claims")) if isinstance(c, dict)]  # fmt: skip


def _references(study: dict) -> list[dict]:
    rows = []
    for r in _list(study.get("references")):
        if not isinstance(r, dict):
            continue
        comparable = r.get("comparable", True)
        rows.append({"metric": str(r.get("metric", "?")), "select": str(r.get("select", "")),
                     "value": _num(r.get("value")), "reference": _num(r.get("reference")),
                     "delta": _num(r.get("delta")), "tolerance": "±" + _num(r.get("tolerance")),
                     "status": _status(r.get("ok")) if comparable else "reported", "note": str(r.get("note") or ""),
                     "source": str(r.get("source") or "")})  # fmt: skip
    return rows


def _rows(items: Any) -> tuple[list[str], list[list[str]]]:
    """Any list of flat objects (failure kinds the page does not know yet included) as a header and rows."""
    dicts = [d for d in _list(items) if isinstance(d, dict)]
    header = list(dict.fromkeys(k for d in dicts for k in d))
    return header, [[_num(d.get(k)) if not isinstance(d.get(k), str) else d[k] for k in header] for d in dicts]


def _figures(artifact: Path, study: dict, grid: list[dict]) -> tuple[list[dict], list[str]]:
    """Every PNG in figures/ (known figures first), embedded; and notes on figures not drawn."""
    checked = {str(f.get("name")): f for f in _list(study.get("figures")) if isinstance(f, dict)}
    folder = artifact / "figures"
    pngs = sorted(p for p in folder.glob("*.png") if p.is_file()) if folder.is_dir() else []  # no FIFO, no folder
    rank = {n: i for i, n in enumerate(FIGURE_ORDER)}
    pngs.sort(key=lambda p: (rank.get(p.stem, len(rank)), p.stem))
    figures = []
    for p in pngs:
        try:
            data = p.read_bytes()
        except OSError:
            continue
        f = checked.get(p.stem, {})
        check = ("not compared by the check" if not f else
                 f"{_status(f.get('ok'))}: RMS {_num(f.get('rms'), 3)} vs regenerated (pass ≤ {_num(f.get('tolerance'), 3)})"
                 + (f" {f['note']}" if f.get("note") else ""))  # fmt: skip
        figures.append({"name": p.stem, "src": "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
                        "check": check, "ok": f.get("ok") is not False})
    notes = []
    names = {p.stem for p in pngs}
    sizes = {r.get("model_params") for r in grid if r.get("model_params")}
    if grid and len(sizes) < 2 and not names & set(SCALING):
        notes.append(f"No scaling figure: the study has {len(sizes)} model size; a trend over size needs two or more.")
    for name, f in checked.items():
        if name not in names:
            notes.append(f"{name}: listed by the check but no {name}.png in figures/ ({_status(f.get('ok'))}).")
    return figures, notes


def _samples(artifact: Path) -> tuple[list[dict], list[str]]:
    """Every sample record of samples/<model>/<attack>/seed<k>/steps<n>.jsonl with its cell, or a note why not."""
    root = artifact / "samples"
    files = sorted(p for p in root.rglob("*.jsonl") if p.is_file()) if root.is_dir() else []
    if not files:
        return [], ["No samples/ in the artifact: per-category results and judge agreement are not shown."]
    if sum(f.stat().st_size for f in files) > MAX_SAMPLE_BYTES:
        return [], [f"samples/ is larger than {MAX_SAMPLE_BYTES >> 20} MiB: per-category results and judge "
                    "agreement are not shown here (rrs score computes them)."]
    out, bad = [], 0
    for f in files:
        rel = f.relative_to(root).parts
        steps = f.stem.removeprefix("steps")
        cell = {"model": rel[0] if len(rel) > 1 else "", "steps": int(steps) if steps.isdigit() else None}
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(rec, dict):
                out.append({**cell, **rec})
    return out, [f"{bad} sample lines are not JSON and were left out."] if bad else []


def _categories(samples: list[dict], judge: str) -> dict:
    """Refusal rate of harmful prompts per category under `judge`, before (fewest steps) and after (most steps) the
    attack, pooled over models and seeds."""
    key = f"refusal:{judge}"
    harmful = [s for s in samples if s.get("set") == "harmful" and isinstance(s.get(key), bool)
               and isinstance(s.get("steps"), int)]  # fmt: skip
    if not harmful:
        return {}
    first, last = min(s["steps"] for s in harmful), max(s["steps"] for s in harmful)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for s in harmful:
        if s["steps"] in (first, last):
            c = counts[str(s.get("category") or "—")]
            i = 0 if s["steps"] == first else 2
            c[i] += s[key]
            c[i + 1] += 1
    rows = [{"category": k, "before": _num(c[0] / c[1], 3) if c[1] else "—", "n_before": c[1],
             "after": _num(c[2] / c[3], 3) if c[3] else "—", "n_after": c[3]} for k, c in sorted(counts.items())]
    return {"judge": judge, "first": first, "last": last, "rows": rows}


def _kappa(a: list[bool], b: list[bool]) -> float:
    n = len(a)
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    pe = pa * pb + (1 - pa) * (1 - pb)
    return math.nan if pe >= 1.0 else (po - pe) / (1 - pe)


def _agreement(samples: list[dict]) -> list[dict]:
    """Per pair of judges: share of harmful responses labelled alike and Cohen's kappa, over every cell and step."""
    judges = sorted({k.removeprefix("refusal:") for s in samples for k in s if k.startswith("refusal:")})
    rows = []
    for i, a in enumerate(judges):
        for b in judges[i + 1:]:
            pairs = [(s[f"refusal:{a}"], s[f"refusal:{b}"]) for s in samples if s.get("set") == "harmful"
                     and isinstance(s.get(f"refusal:{a}"), bool) and isinstance(s.get(f"refusal:{b}"), bool)]
            if pairs:
                x, y = [p[0] for p in pairs], [p[1] for p in pairs]
                rows.append({"a": a, "b": b, "n": len(pairs), "agree": _num(sum(p == q for p, q in pairs) / len(pairs), 3),
                             "kappa": _num(_kappa(x, y), 3)})  # fmt: skip
    return rows


def _provenance(manifest: dict, results: dict) -> list[tuple[str, str]]:
    git = _dict(manifest.get("git"))
    rows = [("study", manifest.get("study")), ("spec", manifest.get("spec_path")),
            ("spec sha256", manifest.get("spec_sha256")), ("rrs version", manifest.get("rrs_version")),
            ("commit", (str(git.get("commit")) + (" (dirty tree)" if git.get("dirty") else "")) if git else None),
            ("seeds", ", ".join(map(str, _list(manifest.get("seeds")))) or None),
            ("wall time", f"{_num(manifest.get('wall_time_s'))} s" if manifest.get("wall_time_s") is not None else None),
            (f"{GRID} sha256", _dict(results.get("results_grid")).get("sha256")),
            ("lock hashes", ", ".join(f"{k} {v}" for k, v in _dict(manifest.get("locks")).items()) or
             "not recorded in manifest.json")]  # fmt: skip
    for name, d in sorted(_dict(manifest.get("data")).items()):
        if isinstance(d, dict):
            rows.append((f"data: {name}", f"{d.get('source', '?')}, n={d.get('n', '?')}, sha256 {d.get('sha256', '?')}"))
    return [(k, str(v)) for k, v in rows if v is not None]


def _numerics(manifest: dict, artifact: Path) -> dict:
    num = _dict(manifest.get("numerics"))
    fp = _dict(num.get("fingerprint"))
    dev = _dict(manifest.get("device"))
    cpu = _dict(fp.get("cpu"))
    return {"id": num.get("id") or "not recorded",
            "platform": "; ".join(str(x) for x in (cpu.get("vendor"), cpu.get("model"), fp.get("cpu_capability"),
                                                   fp.get("device"), fp.get("torch"), dev.get("platform"),
                                                   f"{dev['threads']} threads" if dev.get("threads") else None) if x),
            "knobs": ", ".join(f"{k}={v}" for k, v in _dict(fp.get("knobs")).items()) or "none",
            "packages": sorted((str(k), str(v)) for k, v in _dict(manifest.get("packages")).items()),
            "reproductions": [{k: r.get(k, "") for k in ("fingerprint_id", "platform", "date", "rrs_commit")}
                              for r in _read_csv(artifact / "reproductions.csv")],
            "variation": (artifact / "variation.csv").is_file()}  # fmt: skip


def context(verdict: dict, artifact: str | Path) -> dict:
    """Everything the template shows, as plain strings, lists and dicts."""
    artifact = Path(artifact)
    study = pick_study(verdict, artifact)
    spec = _dict(_read_yaml(artifact / "spec.resolved.yaml"))
    manifest = _dict(_read_json(artifact / "manifest.json"))
    results = _dict(_read_json(artifact / "results.json"))
    grid = _read_csv(artifact / GRID)
    figures, figure_notes = _figures(artifact, study, grid)
    samples, sample_notes = _samples(artifact)
    judges = list(dict.fromkeys(r.get("judge") for r in grid if r.get("judge")))
    fresh = _dict(study.get("fresh"))
    counts = _dict(study.get("counts"))
    return {
        "study": str(study.get("study") or artifact.name), "artifact": str(artifact), "grid_file": GRID,
        "ok": study.get("ok") is True, "status": _status(study.get("ok")), "summary": str(study.get("summary", "")),
        "description": str(spec.get("description") or "").strip(),
        "notes": [str(n) for n in _list(study.get("notes")) + _list(_dict(verdict).get("notes"))],
        "counts": counts,
        "claims": _claims(study, spec), "references": _references(study),
        "failures": _rows(study.get("failures")),
        "fresh": ({"dir": str(fresh.get("result_dir", "")), "status": _status(fresh.get("ok")),
                   "summary": str(fresh.get("summary", "")), "mode": str(fresh.get("compare_mode", "")),
                   "rule": str(fresh.get("compare_rule", "")), "comparison": _rows(fresh.get("comparison"))}
                  if fresh else None),  # fmt: skip
        "figures": figures, "figure_notes": figure_notes,
        "categories": _categories(samples, judges[0]) if judges and samples else {},
        "agreement": _agreement(samples), "sample_notes": sample_notes,
        "numerics": _numerics(manifest, artifact), "provenance": _provenance(manifest, results),
        "verdict_version": _dict(verdict).get("verdict_version"),
    }


def render(verdict: dict, artifact: str | Path) -> str:
    import jinja2

    source = resources.files("rrs").joinpath("data", TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source).render(**context(verdict, artifact))


def write_page(verdict: dict, artifact: str | Path, path: str | Path) -> Path:
    """Render and write the page atomically; return its path."""
    path = Path(path)
    write_text(path, render(verdict, artifact))
    return path
