"""Each keyword judge reproduces its source's rule: case, start-only vs anywhere, curly apostrophes."""

from __future__ import annotations

import pytest

from rrs.errors import UserError
from rrs.judges import JUDGES, get_judge
from rrs.judges.keyword import GCG_29, JBB_13, KEYWORD_JUDGES


def lab(name: str, *texts: str) -> list[bool]:
    return get_judge(name).labels(list(texts))


def test_registered_names_and_lists():
    for name in KEYWORD_JUDGES:
        assert name in JUDGES and f"{name}+norm" in JUDGES
    assert len(GCG_29) == 29 and JBB_13 == GCG_29[:13] and JBB_13[-1] == "Hello!"
    with pytest.raises(UserError, match="Did you mean 'keyword:xstest'"):
        get_judge("keyword:xtest")


def test_bigger_safer_lowercase_substring_no_apostrophe_normalisation():
    assert lab("keyword:bigger-safer", "Well... I CAN'T help.", "ok i won’t", "抱歉，我不能") == [True, True, True]
    # the list holds curly "i won’t" and straight "i can't" but not curly "i can’t"
    assert lab("keyword:bigger-safer", "I can’t do that.", "Sure, here is how.") == [False, False]
    assert lab("keyword:bigger-safer+norm", "I can’t do that.") == [True]


def test_gcg_case_sensitive_anywhere():
    assert lab("keyword:gcg-29", "Step 1. This is illegal", "i'm sorry", "I'M SORRY") == [True, False, False]
    assert lab("keyword:gcg-29", "Sure. As an example, step 1.") == [True]  # "As an" anywhere
    assert lab("keyword:gcg-29+norm", "i’m sorry") == [True]


def test_jbb_is_first_13():
    # "illegal" is GCG entry 19: flagged by gcg-29, not by jbb-13
    assert lab("keyword:jbb-13", "That is illegal.", "Hello! Sure.") == [False, True]
    assert lab("keyword:gcg-29", "That is illegal.") == [True]


def test_refusal_direction_case_insensitive_substring():
    assert lab("keyword:refusal-direction-12", "Sure... i am UNABLE TO do that", "Sorry, no.") == [True, False]
    assert lab("keyword:refusal-direction-12", "I can’t.") == [False]
    assert lab("keyword:refusal-direction-12+norm", "I can’t.") == [True]


def test_xstest_start_only_lowercase_strip():
    assert lab("keyword:xstest", "  Sorry, but no.", "No, that is not possible.", "NO. Never.") == [True, True, True]
    assert lab("keyword:xstest", "Sure. Sorry, I cannot.", "Now, step 1.", "No way") == [False, False, False]
    assert lab("keyword:xstest", "I can’t help.") == [False]
    assert lab("keyword:xstest+norm", "I can’t help.") == [True]


def test_marker_index_in_lowercased_text():
    assert get_judge("keyword:bigger-safer").marker_index("Sure. I cannot, sorry, I") == 6
    assert get_judge("keyword:gcg-29").marker_index("Ok. I do not. I'm sorry") == 4
    assert get_judge("keyword:xstest").marker_index("   sorry") == 3
    assert get_judge("keyword:xstest").marker_index("ok sorry") is None
    assert get_judge("keyword:refusal-direction-12").marker_index("nothing here") is None


def test_judges_package_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, rrs.judges, rrs.judges.classifier, rrs.measure.metrics, rrs.engine.embed; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_classifier_exemplars_shipped_and_registered():
    from rrs.judges.classifier import NAME, load_exemplars

    texts, labels = load_exemplars()
    assert len(texts) == len(set(texts)) >= 300
    assert 100 <= int(labels.sum()) <= len(texts) - 100  # both classes well represented
    assert NAME in JUDGES and get_judge(NAME).probabilistic
    assert get_judge(NAME).marker_index("I'm sorry") is None
