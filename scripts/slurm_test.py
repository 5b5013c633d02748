"""`make slurm-test`, the part that runs on a cluster: a reduced study through `rrs run --executor slurm`, compared
byte for byte with a plain run, and the faults a real scheduler brings (scancel, time limit, requeue).

Run by scripts/slurm_test.sh, which starts the throwaway cluster (SLURM_CONF) and stops it afterwards. Prints one
line per check; exits 1 at the first that fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SLURM = ["--executor", "slurm", "--partition", "debug", "--mem-gb", "1"]
# manifest.json keys that hold seconds measured on the machine that ran the stage; every other byte must match
TIMING_KEYS = re.compile(r"^(stages|.*_s)$")


class Failed(Exception):
    pass


def check(ok: bool, what: str, detail: str = "") -> None:
    if not ok:
        raise Failed(what + (f"\n{detail}" if detail else ""))
    print(f"ok: {what}", flush=True)


def specs(work: Path) -> tuple[Path, Path]:
    """Two reductions of spec/tiny.yaml (so they follow it): `short`, one organism × two seeds, as the clean run;
    `faults`, one organism × a short and a long attack (its attack outlasts the 1-minute time limit)."""
    d = yaml.safe_load((ROOT / "spec" / "tiny.yaml").read_text())
    d["models"] = d["models"][:1]
    d["models"][0]["tune_steps"] = 30
    d["data"]["eval"]["per_category"] = d["data"]["benign"]["per_category"] = 1
    d["runtime"]["threads"] = 1
    short = d | {"study": "slurm-short", "seeds": [0, 1]}
    # rank 4, not 8: an attack's cache key leaves out its steps, so the same rank would share one LoRA run
    long = dict(d["attacks"][0], name="lora-long", rank=4, steps=[0, *range(250, 2501, 250)])
    faults = d | {"study": "slurm-faults", "seeds": [0], "attacks": [d["attacks"][0], long]}
    paths = []
    for spec in (short, faults):
        path = work / f"{spec['study']}.yaml"
        path.write_text(f"# Run: make slurm-test (written by {Path(__file__).name})\n"
                        + yaml.safe_dump(spec, sort_keys=False))
        paths.append(path)
    return paths[0], paths[1]


def rrs(*args: str, quiet: bool = False, echo: bool = True, background: bool = False):
    """`python -m rrs.cli ARGS` with this checkout's package; stderr echoed (indented) as it comes."""
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    env.pop("RRS_QUIET", None)
    if quiet:
        env["RRS_QUIET"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "rrs.cli", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=1)
    proc.lines = []  # type: ignore[attr-defined]
    if background:
        import threading

        threading.Thread(target=_pump, args=(proc, echo), daemon=True).start()
        return proc
    _pump(proc, echo)
    proc.wait()
    return proc


def _pump(proc, echo: bool) -> None:
    for line in proc.stderr:
        proc.lines.append(line.rstrip("\n"))
        if echo and line.startswith("rrs"):
            print(f"    | {line.rstrip()}", flush=True)


def stderr(proc) -> str:
    return "\n".join(proc.lines)


def tree(out: Path) -> dict[str, bytes]:
    """Every file of an output folder; manifest.json without its measured seconds."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            if p.name == "manifest.json":
                m = {k: v for k, v in json.loads(data).items() if not TIMING_KEYS.match(k)}
                data = json.dumps(m, sort_keys=True).encode()
            files[str(p.relative_to(out))] = data
    return files


def same_tree(a: Path, b: Path, what: str) -> None:
    ta, tb = tree(a), tree(b)
    diff = sorted(k for k in ta.keys() | tb.keys() if ta.get(k) != tb.get(k))
    check(not diff, f"{what}: all {len(ta)} output files equal the plain run's byte for byte (manifest.json "
          f"without its seconds)", f"differ: {diff[:10]}")


def plain(spec: Path, work: Path) -> Path:
    base = work / f"plain-{spec.stem}"
    t0 = time.perf_counter()
    proc = rrs("run", str(spec), "--out", str(base / "out"), "--cache", str(base / "cache"), quiet=True, echo=False)
    check(proc.returncode == 0, f"plain run of {spec.stem} ({time.perf_counter() - t0:.0f} s)", stderr(proc)[-3000:])
    return base / "out"


def overhead(text: str) -> list[str]:
    return re.findall(r"(wave \d \([^)]*\)): \d+ job\(s\) done in (\d+) s; per job: compute ([\d.]+) s, "
                      r"overhead ([\d.]+) s", text)


def live_jobs() -> list[str]:
    from rrs.engine.executors import SLURM_LIVE

    out = subprocess.run(["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T"], text=True,
                         capture_output=True, check=True).stdout
    return [line for line in out.split() if line.split("|")[1] in SLURM_LIVE]


def job_of(folder: Path, attack: str) -> str:
    """SLURM job id (array task as 12_1) of the cell job that runs `attack`, from submitit's job pickles."""
    from submitit.core.utils import DelayedSubmission

    ids = [p.name.removesuffix("_submitted.pkl") for p in folder.glob("*_submitted.pkl")
           if getattr((d := DelayedSubmission.load(p)).function, "name", "") == "cell_job" and d.args[3] == attack]
    if not ids:
        raise Failed(f"no submitted job for attack {attack} in {folder}")
    return max(ids, key=lambda i: tuple(int(x) for x in i.split("_")))  # the newest


def case_clean(short: Path, work: Path, plain_out: Path) -> None:
    print(f"\n== clean: {short.name} through --executor slurm", flush=True)
    base = work / "clean"
    t0 = time.perf_counter()
    proc = rrs("run", str(short), *SLURM, "--time-min", "10", "--out", str(base / "out"), "--cache",
               str(base / "cache"))
    text = stderr(proc)
    check(proc.returncode == 0, f"rrs run --executor slurm exits 0 ({time.perf_counter() - t0:.0f} s)", text[-3000:])
    check("wave 1 (models, baselines): 1 slurm job(s)" in text and "wave 2 (cells): 2 slurm job(s)" in text,
          "one model job, then one job per cell (2)", text)
    check(re.search(r"wave 2 \(cells\): [01]/2 done, .*(running|pending)", text) is not None
          and "wave 2 (cells): 2/2 done" in text, "progress lines while the waves run", text)
    check("sacct" not in text and "Bypassing" not in text, "no accounting on this cluster, and no warning about it",
          text)
    same_tree(base / "out", plain_out, "clean")
    for wave, wall, compute, over in overhead(text):
        print(f"measured: {wave}: wall {wall} s; per job: compute {compute} s, overhead {over} s", flush=True)
    for job, queued, ran in job_times(base / "cache" / "submitit"):
        print(f"measured: job {job}: {queued:.1f} s from submission to start, {ran:.1f} s from start to result",
              flush=True)


def job_times(folder: Path) -> list[tuple[str, float, float]]:
    """Per job: seconds from its pickle's writing (just before sbatch) to submitit's first log line in the job, and
    from there to its result file."""
    from datetime import datetime

    out = []
    for sub in sorted(folder.glob("*_submitted.pkl")):
        job = sub.name.removesuffix("_submitted.pkl")
        m = re.search(r"\((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)\) - Starting",
                      (folder / f"{job}_0_log.out").read_text())
        started = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        out.append((job, started - sub.stat().st_mtime, (folder / f"{job}_0_result.pkl").stat().st_mtime - started))
    return out


def case_scancel(faults: Path, work: Path, plain_out: Path) -> None:
    print("\n== scancel: the long cell's job cancelled in the middle of its attack, then the same command again",
          flush=True)
    from rrs.engine.runner import prepare

    base = work / "scancel"
    cmd = ["run", str(faults), *SLURM, "--time-min", "10", "--out", str(base / "out"), "--cache", str(base / "cache")]
    proc = rrs(*cmd, background=True)
    plan = prepare(faults, base / "cache")
    cell = next(c for c in plan.cells if c.attack == "lora-long")
    ckpts = plan.store.attack_dir(cell.attack_key)
    deadline = time.time() + 300
    while not list(ckpts.glob("step-*/state.pt")):
        if proc.poll() is not None or time.time() > deadline:
            raise Failed("the long cell's attack wrote no checkpoint\n" + stderr(proc)[-3000:])
        time.sleep(0.5)
    job = job_of(base / "cache" / "submitit", "lora-long")
    steps = sorted(int(p.parent.name.split("-")[1]) for p in ckpts.glob("step-*/state.pt"))
    subprocess.run(["scancel", job], check=True)
    check(steps[-1] < cell.steps[-1], f"scancel {job} with the attack at checkpoint step {steps[-1]} of "
          f"{cell.steps[-1]}")
    proc.wait(timeout=300)
    text = stderr(proc)
    errors = [ln for ln in proc.lines if ln.startswith("rrs: error:")]
    check(proc.returncode == 1 and len(errors) == 1, "the run exits 1 with one error line", text[-3000:])
    m = re.match(r"rrs: error: job for cell org-xs/lora-long/seed0 failed: SLURM ended it \(CANCELLED\) before it "
                 r"wrote a result; log: (\S+)$", errors[0])
    check(m is not None and Path(m.group(1)).is_file() and "CANCELLED" in Path(m.group(1)).read_text(),
          "the line names the cell, the cause and the job's log (which says CANCELLED)", errors[0])
    print(f"    {errors[0]}", flush=True)
    check(not plan.store.missing(next(c for c in plan.cells if c.attack != "lora-long")),
          "the other cell's job finished meanwhile")

    proc = rrs(*cmd)
    text = stderr(proc)
    check(proc.returncode == 0, "the same command again exits 0", text[-3000:])
    check("wave 1" not in text and "wave 2 (cells): 1 slurm job(s)" in text,
          "only the missing work is resubmitted: no model job, one cell job", text)
    job = job_of(base / "cache" / "submitit", "lora-long")
    log = (base / "cache" / "submitit" / f"{job}_0_log.err").read_text()
    m = re.search(r"resumes: attack checkpoint at step (\d+)", log)
    check(m is not None and int(m.group(1)) >= steps[-1],
          f"its job resumed the attack from checkpoint step {m.group(1) if m else '?'}", log[-2000:])
    same_tree(base / "out", plain_out, "scancel + rerun")


def case_timeout(faults: Path, work: Path, plain_out: Path) -> None:
    print("\n== time limit: --time-min 1, the long cell outlasts it", flush=True)
    base = work / "timeout"
    t0 = time.perf_counter()
    proc = rrs("run", str(faults), *SLURM, "--time-min", "1", "--max-requeues", "8", "--out", str(base / "out"),
               "--cache", str(base / "cache"))
    text = stderr(proc)
    check(proc.returncode == 0, f"rrs run exits 0 ({time.perf_counter() - t0:.0f} s)", text[-3000:])
    job = job_of(base / "cache" / "submitit", "lora-long")
    log = "".join((base / "cache" / "submitit" / f"{job}_0_log.{ext}").read_text() for ext in ("out", "err"))
    requeues = re.findall(r"Requeued job \S+ \((\d+) remaining timeouts\)", log)
    resumed = [int(s) for s in re.findall(r"resumes: attack checkpoint at step (\d+)", log)]
    check(len(requeues) >= 1 and "Caught signal SIGUSR2" in log,
          f"job {job} was warned (SIGUSR2) before its limit and requeued itself {len(requeues)} time(s)", log[-3000:])
    check(len(resumed) == len(requeues) and all(s > 0 for s in resumed),
          f"each rerun resumed from its last checkpoint: steps {resumed}", log[-3000:])
    same_tree(base / "out", plain_out, "time limit + requeue")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        nodes = subprocess.run(["sinfo", "--noheader", "--format=%P %a %D %t %c"], text=True, capture_output=True,
                               check=True).stdout.strip()
        check(bool(nodes), f"cluster up: partition/avail/nodes/state/cpus = {nodes}")
        acct = subprocess.run(["sacct"], text=True, capture_output=True)
        print(f"    (sacct: {(acct.stdout + acct.stderr).strip() or acct.returncode})", flush=True)
        short, faults = specs(work)
        plain_short, plain_faults = plain(short, work), plain(faults, work)
        case_clean(short, work, plain_short)
        case_scancel(faults, work, plain_faults)
        case_timeout(faults, work, plain_faults)
        check(not live_jobs(), "no job left pending or running")
    except Failed as err:
        print(f"FAILED: {err}", file=sys.stderr, flush=True)
        return 1
    print(f"\nslurm-test: passed in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    if shutil.which("sbatch") is None or "SLURM_CONF" not in os.environ:
        sys.exit("slurm_test.py: run it through scripts/slurm_test.sh (needs a cluster: SLURM_CONF and sbatch)")
    sys.exit(main())
