"""Progress that suits where it goes: bars on a terminal, whole lines in a log, nothing when asked."""

import io
import sys

import pytest

from monarch_sci.training.progress import LineProgress, progress_bar, progress_style, resolved_style


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_a_bar_on_a_terminal_and_lines_elsewhere(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with progress_style("auto"):
        assert resolved_style() == "line"
    monkeypatch.setattr(sys, "stderr", _Terminal())
    with progress_style("auto"):
        assert resolved_style() == "bar"
        with progress_style("line"):
            assert resolved_style() == "line"
        assert resolved_style() == "bar"  # the inner style is restored on leaving its block
    with pytest.raises(ValueError, match="progress_style: expected one of auto, bar, line, none, got 'dots'"):
        with progress_style("dots"):
            pass


def test_line_style_writes_one_line_per_stage_and_no_carriage_return(capsys):
    with progress_style("line"):
        for epoch in range(2):
            bar = progress_bar(range(5), desc=f"epoch {epoch + 1}/2", unit="batch")
            for _ in bar:
                bar.set_postfix(loss=f"{0.5 / (epoch + 1):.3g}")
        with progress_bar(total=4, initial=1, desc="generate", unit="sample") as bar:
            bar.update(3)
        for _ in progress_bar(range(3), desc="vanishes", leave=False):  # a bar that leaves nothing behind
            pass
        for _ in progress_bar(range(3), desc="off", enabled=False):
            pass
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith("epoch 1/2: 5/5 batch in ") and lines[0].endswith(" s (loss=0.5)")
    assert lines[1].startswith("epoch 2/2: 5/5 batch in ") and lines[1].endswith(" s (loss=0.25)")
    assert lines[2].startswith("generate: 4/4 sample in ")


def test_line_style_reports_a_long_stage_while_it_runs(capsys):
    bar = LineProgress(total=3, desc="solve", unit="sample", interval=0.0)
    bar.update(1.5)
    bar.update(1.5)
    bar.close()
    bar.close()  # closing twice writes one final line
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" in ")[0] for line in lines] == [
        "solve: 1.5/3 sample",
        "solve: 3/3 sample",
        "solve: 3/3 sample",
    ]


def test_bar_style_is_tqdm_and_none_is_silent(capsys):
    with progress_style("bar"):
        for _ in progress_bar(range(3), desc="bar"):
            pass
    assert "\r" in capsys.readouterr().err  # a terminal bar redraws in place
    with progress_style("none"):
        for _ in progress_bar(range(3), desc="none"):
            pass
    assert capsys.readouterr().err == ""
