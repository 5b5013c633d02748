"""Time parsing a spec with many references: the spec loader (libyaml's C parser where PyYAML has it) against the
same loader on the pure-Python parser it replaced.

Usage: .venv/bin/python benchmarks/yaml_load.py [--references 10000]

Writes spec/tiny.yaml with --references copies of one reference appended, then times yaml.load with each loader
(the YAML parse only: pydantic validation is the same for both) and checks both give the same data.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from rrs import spec

ROOT = Path(__file__).resolve().parents[1]
REF = ('  - {metric: rrr, select: {model: org-xs, steps: 0, judge: "keyword:bigger-safer"}, value: 0.5, '
       'tolerance: 0.1, source: "placeholder reference"}\n')


class PurePython(Reader, Scanner, Parser, Composer, spec._Loader):  # type: ignore[misc]
    """The spec loader (its duplicate-key rule and float resolver) on PyYAML's pure-Python parser."""

    def __init__(self, stream) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--references", type=int, default=10000)
    args = ap.parse_args()
    text = (ROOT / "spec" / "tiny.yaml").read_text() + "references:\n" + REF * args.references
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "many.yaml"
        path.write_text(text)
        times, data = {}, {}
        for name, loader in (("pure-Python SafeLoader", PurePython), (f"spec loader ({spec._SafeLoader.__name__})",
                                                                       spec._Loader)):
            t0 = time.perf_counter()
            data[name] = yaml.load(path.read_text(), Loader=loader)  # noqa: S506 (both are SafeLoaders)
            times[name] = time.perf_counter() - t0
    a, b = times.values()
    print(f"parse a spec with {args.references:,} references ({len(text) / 1e6:.1f} MB): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()) + f"; ratio {a / b:.1f}x; "
          f"same data: {len(set(map(repr, data.values()))) == 1}")


if __name__ == "__main__":
    main()
