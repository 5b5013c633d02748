"""The numerics fingerprint and platform key: what changes results is in every cache key, `auto` is resolved."""

from pathlib import Path

from rrs import numerics
from rrs.data import resolve
from rrs.engine.plan import make_plan
from rrs.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def _keys(tmp_path) -> tuple[set[str], set[str]]:
    study = load_spec(ROOT / "spec" / "tiny.yaml")
    plan = make_plan(study, resolve(study), tmp_path)
    return {c.model_key for c in plan.cells}, {c.attack_key for c in plan.cells}


def _all_keys(plan) -> set[str]:
    return {k for c in plan.cells for k in (c.model_key, c.attack_key, *c.gen_keys.values())}


def test_a_numerics_knob_changes_every_key(tmp_path, monkeypatch):
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    models, attacks = _keys(tmp_path)
    assert (models, attacks) == _keys(tmp_path)  # keys are stable
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    models2, attacks2 = _keys(tmp_path)
    assert models.isdisjoint(models2) and attacks.isdisjoint(attacks2)


def test_the_device_is_resolved_before_it_is_keyed(monkeypatch):
    monkeypatch.setattr(numerics, "has_gpu", lambda: False)
    assert numerics.platform_key("auto", 2)["device"] == "cpu"
    assert numerics.platform_key("auto", 2) == numerics.platform_key("cpu", 2)
    monkeypatch.setattr(numerics, "has_gpu", lambda: True)
    monkeypatch.setattr(numerics, "_gpus", lambda: ["NVIDIA H100 80GB HBM3, 570.86"])
    key = numerics.platform_key("auto", 2)
    assert key["device"] == "cuda" and key["gpus"] == ["NVIDIA H100 80GB HBM3, 570.86"]


def test_fingerprint_names_the_cpu_path_and_the_knobs(monkeypatch):
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    fp = numerics.fingerprint("cpu", 2)
    assert fp["cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "NO AVX", "VSX")
    assert fp["cpu"]["vendor"] and fp["torch"].startswith("2.13.0")
    assert "LAPACK_INFO" in fp["torch_build"] or fp["torch_build"]
    other = fp | {"knobs": {"ATEN_CPU_CAPABILITY": "avx2"}}
    assert numerics.fingerprint_id(fp) != numerics.fingerprint_id(other)
    assert "capability" in numerics.describe(fp) and "2 threads" in numerics.describe(fp)
    assert numerics.fingerprint_id(numerics.fingerprint("cpu", 1)) != numerics.fingerprint_id(fp)


def test_device_and_threads_from_the_command_line_replace_the_specs_and_key_everything(tmp_path, monkeypatch):
    """`rrs run --threads/--device` (runner.prepare's runtime): the spec's runtime is the default; a thread count
    other than the spec's changes the platform key and every cache key, the spec's own value changes nothing."""
    from rrs.engine.runner import prepare

    monkeypatch.setattr(numerics, "has_gpu", lambda: False)
    spec = ROOT / "spec" / "tiny.yaml"  # runtime: {threads: 2, device: cpu}
    base = prepare(spec, tmp_path)
    one = prepare(spec, tmp_path, runtime={"threads": 1})
    assert (base.study.runtime.threads, one.study.runtime.threads) == (2, 1)
    assert one.platform["threads"] == 1 and one.runtime_set == ("threads",) and base.runtime_set == ()
    assert _all_keys(base).isdisjoint(_all_keys(one))
    same = prepare(spec, tmp_path, runtime={"threads": 2, "device": "auto"})  # auto resolves to cpu here
    assert same.device == "cpu" and same.study.runtime.device == "auto" and _all_keys(same) == _all_keys(base)
    assert one.study.model_dump(exclude={"runtime"}) == base.study.model_dump(exclude={"runtime"})
