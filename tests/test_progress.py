"""Progress lines: plain lines (no carriage return) when stderr is not a terminal; nothing with -q."""

from __future__ import annotations

from rrs.progress import plain_lines, progress


def test_plain_lines_when_stderr_is_not_a_terminal(capsys, monkeypatch) -> None:
    monkeypatch.delenv("RRS_QUIET", raising=False)
    monkeypatch.delenv("RRS_VERBOSE", raising=False)
    assert list(progress(range(8), desc="attack organism-xs")) == list(range(8))  # capsys: stderr is no terminal
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[0] == "rrs: attack organism-xs: 0/8"
    assert lines[1:4] == ["rrs: attack organism-xs: 2/8 (25%)", "rrs: attack organism-xs: 4/8 (50%)",
                          "rrs: attack organism-xs: 6/8 (75%)"]
    assert lines[4].startswith("rrs: attack organism-xs: 8/8 done in ")
    assert len(lines) == 5


def test_verbose_shows_tenths_and_quiet_nothing(capsys, monkeypatch) -> None:
    monkeypatch.setenv("RRS_VERBOSE", "1")
    monkeypatch.delenv("RRS_QUIET", raising=False)
    list(progress(range(20), desc="x"))
    assert len(capsys.readouterr().err.splitlines()) == 1 + 9 + 1
    monkeypatch.setenv("RRS_QUIET", "1")
    assert list(progress(range(20), desc="x")) == list(range(20))
    assert capsys.readouterr().err == ""


def test_plain_lines_of_a_generator_without_length(capsys) -> None:
    assert list(plain_lines((i for i in range(3)), "gen")) == [0, 1, 2]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "rrs: gen: 0/?" and lines[-1].startswith("rrs: gen: 3/3 done")
