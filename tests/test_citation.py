"""CITATION.cff, validated offline against the Citation File Format 1.2.0 JSON schema and against pyproject.toml.

The schema is vendored in tests/fixtures/cff-schema-1.2.0.json, copied unchanged from the cffconvert 2.0.0 package
(cffconvert/schemas/1.2.0/schema.json); its sha256 is pinned below so an edit to it cannot pass unnoticed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CFF = ROOT / "CITATION.cff"
SCHEMA = ROOT / "tests" / "fixtures" / "cff-schema-1.2.0.json"
SCHEMA_SHA256 = "0b8d22140da702d766df318dcff3a91af2f39521298dcf36d76315fd99cc169b"
STUDY_TITLE = "Bigger ≠ Safer: A First Look at Refusal Robustness Scaling in LLMs"
STUDY_REPO = "https://github.com/yw562/refusal-robustness-scaling"


class _CffLoader(yaml.SafeLoader):
    """YAML as CFF tools read it: dates stay strings (the schema wants "2025-09-11", not a date object)."""


_CffLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_cff(text: str) -> dict:
    return yaml.load(text, Loader=_CffLoader)


def cff_errors(data: dict) -> list[str]:
    """Every schema violation, as 'path: message', sorted; empty when the citation is valid CFF 1.2.0."""
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    return sorted(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(data)
    )


@pytest.fixture(scope="module")
def citation() -> dict:
    return load_cff(CFF.read_text(encoding="utf-8"))


def test_vendored_schema_is_the_cff_1_2_0_schema():
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA.read_text())
    assert schema["$id"] == "https://citation-file-format.github.io/1.2.0/schema.json"
    assert set(schema["required"]) == {"authors", "cff-version", "message", "title"}


def test_citation_is_valid_cff_1_2_0(citation):
    assert citation["cff-version"] == "1.2.0"
    assert cff_errors(citation) == []


def test_citation_agrees_with_pyproject(citation):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(citation["version"]) == project["version"]
    assert citation["license"] == project["license"]
    assert citation["type"] == "software"


def test_citation_cites_the_reproduced_study(citation):
    works = citation.get("references", []) + [citation.get("preferred-citation", {})]
    study = [w for w in works if w.get("title") == STUDY_TITLE]
    assert len(study) == 1
    assert study[0]["repository-code"] == STUDY_REPO
    assert study[0]["authors"]


@pytest.mark.parametrize("field", ["authors", "title", "message", "cff-version"])
def test_validation_rejects_a_citation_missing_a_required_field(citation, field):
    broken = copy.deepcopy(citation)
    del broken[field]
    assert cff_errors(broken) == [f"<root>: '{field}' is a required property"]


def test_validation_rejects_bad_values(citation):
    broken = copy.deepcopy(citation)
    broken["cff-version"] = "1.1.0"
    broken["license"] = "Not-A-License"
    broken["references"][0]["type"] = "tweet"
    errors = cff_errors(broken)
    assert len(errors) == 3
    assert [e.split(":")[0] for e in errors] == ["cff-version", "license", "references/0/type"]


def test_dates_are_read_as_strings_like_cff_tools_read_them():
    text = CFF.read_text(encoding="utf-8") + "date-released: 2025-09-11\n"
    dated = load_cff(text)
    assert dated["date-released"] == "2025-09-11"
    assert cff_errors(dated) == []
    dated["date-released"] = "11 September 2025"
    assert cff_errors(dated) != []
