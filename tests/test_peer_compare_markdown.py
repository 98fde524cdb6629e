"""The generated peer-comparison sections of docs/validation.md (benchmarks/genz_compare.py and
benchmarks/aiconfigurator_compare.py --write): closed-form medians on synthetic rows, and the
markers the scripts write between exist in the page."""

from _load import ROOT, load_script


def _load(name: str):
    return load_script("benchmarks", name)


def test_genz_markdown_medians_over_rows_all_three_predict():
    g = _load("genz_compare")
    out = [("a", "llama2-70b", "h100-sxm", 1.0, +10.0, +100.0, +120.0),
           ("b", "llama2-70b", "h100-sxm", 1.0, -30.0, +200.0, +220.0),
           ("c", "llama2-70b", "h200", 1.0, +50.0, None, +300.0)]  # no GenZ at tapeout's layout: not "same rows"
    md = g.markdown(out, [1.0, 3.0], [2.0])
    assert "Same 2 rows" in md
    assert "| 20.0 | -10.0 |" in md  # tapeout: median |10, -30| = 20, signed median -10
    assert "| GenZ at tapeout's layout | 150.0 | +150.0 |" in md
    assert "| h100-sxm | 2 | -10 | +150 | +170 |" in md and "| h200 |" not in md
    assert "all 3 expressible rows: 30.0% median |error|, 2.00 s per prediction" in md


def test_aiconfigurator_markdown_columns():
    a = _load("aiconfigurator_compare")
    out = [{"chip": "h200", "tapeout": 10.0, "tapeout_db": -4.0, "aic": 2.0},
           {"chip": "h200", "tapeout": -20.0, "tapeout_db": None, "aic": 6.0}]
    md = a.markdown(out, [0.5], [1.5], {"no config (3)": 3})
    assert "| h200 | 2 | 15.0 | -5.0 | 4.0 | -4.0 | 4.0 | +4.0 |" in md
    assert "tapeout 0.500" in md and "AIConfigurator 1.500" in md and "no config (3) (3)" in md


def test_aiconfigurator_markdown_with_no_serving_row_says_so():
    # was: statistics.StatisticsError on `--limit 6` (stop-30 review: the first rows of the file are not serving rows)
    md = _load("aiconfigurator_compare").markdown([], [], [], {})
    assert "nothing to compare" in md


def test_markers_exist_in_the_page():
    doc = (ROOT / "docs" / "validation.md").read_text()
    for mod in ("genz_compare", "aiconfigurator_compare"):
        m = _load(mod)
        assert doc.count(m.BEGIN) == 1 and doc.count(m.END) == 1 and doc.index(m.BEGIN) < doc.index(m.END)
