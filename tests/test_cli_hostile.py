"""Every case of issue 21, as a hostile user tried it: one line naming the field and the fix with
exit 2, or a correct answer; nothing outside the named output is ever deleted."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from _cli import assert_clean, run_cli
from tapeout.cli.app import fmt

ROOT = Path(__file__).resolve().parents[1]
E2E = ROOT / "src" / "tapeout" / "data" / "measured" / "end_to_end.csv"
STUDY = {"name": "tiny", "chips": ["h100-sxm"],
         "workloads": [{"name": "chat", "kind": "llm-serving", "model": "llama-3.1-8b", "precision": "bf16",
                        "params": {"input_len": 256, "output_len": 64, "num_chips": 1}, "traffic": {"tokens_per_day": 1e9}}]}


def _err(args) -> str:
    code, out, err = run_cli(args)
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    return err


@pytest.fixture
def study(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(STUDY))
    return f


# ------------------------------------------------------------------ data loss
def test_force_never_wipes_a_folder_tapeout_did_not_write(tmp_path, study):
    proj = tmp_path / "proj"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "important.py").write_text("x = 1\n")
    (proj / "NOTES.md").write_text("notes")
    err = _err(["run", study, "--out", proj, "--force", "--quiet"])
    assert "not written by `tapeout run`" in err and "finished run" not in err
    assert (proj / "src" / "important.py").read_text() == "x = 1\n" and (proj / "NOTES.md").exists()


def test_out_dot_is_refused_and_nothing_deleted(tmp_path, study, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for out in (".", "..", str(tmp_path)):
        assert "--out" in _err(["run", study, "--out", out, "--force", "--quiet"])
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_out_pointing_at_a_file(tmp_path, study):
    f = tmp_path / "afile"
    f.write_text("keep")
    assert "is a file" in _err(["run", study, "--out", f, "--quiet"])
    assert f.read_text() == "keep"


def test_force_replaces_only_a_previous_runs_files(tmp_path, study):
    out = tmp_path / "o"
    assert run_cli(["run", study, "--out", out, "--quiet"])[0] == 0
    marker = json.loads((out / ".tapeout-run").read_text())
    (out / "mine.txt").write_text("mine")
    assert "--force" in _err(["run", study, "--out", out, "--quiet"])
    assert run_cli(["run", study, "--out", out, "--quiet", "--force"])[0] == 0
    assert (out / "mine.txt").read_text() == "mine" and (out / "report.html").exists()
    assert json.loads((out / ".tapeout-run").read_text())["study_hash"] == marker["study_hash"]


def test_resume_refuses_a_different_study(tmp_path, study):
    out = tmp_path / "o"
    assert run_cli(["run", study, "--out", out, "--quiet"])[0] == 0
    (out / "RUNNING").write_text("interrupted")
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({**STUDY, "name": "other"}))
    err = _err(["run", other, "--out", out, "--quiet"])
    assert "different study" in err and "interrupted" in err


def test_missing_design_space_fails_before_the_output_folder_exists(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({**STUDY, "design_spaces": ["nope.yaml"]}))
    err = _err(["run", f, "--out", tmp_path / "o", "--quiet"])
    assert "design_spaces" in err and "nope.yaml" in err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ wrong answers with exit 0
@pytest.mark.parametrize("tops", [".nan", ".inf", "-.inf", "1e400"])
def test_compliance_rejects_non_finite_tops(tmp_path, tops):
    d = tmp_path / "d.yaml"
    d.write_text(f"name: d\ndie_area_mm2: 800\nnum_dies: 1\ntops: {{fp8: {tops}}}\n")
    assert "tops.fp8" in _err(["compliance", "--design", d])


# ------------------------------------------------------------------ tracebacks
@pytest.mark.parametrize("args", [["run-workload", "{f}", "--chip", "h100-sxm"], ["validate", "--data", "{f}"],
                                  ["explore", "{f}"], ["compliance", "--design", "{f}"], ["run", "{f}", "--out", "{o}"],
                                  ["serve", "--model", "{f}", "--chip", "h100-sxm"], ["designs", "{f}"]])
@pytest.mark.parametrize("content", [bytes(range(256)) * 4, b"\x89PNG\r\n\x1a\n\x00\x00", b"", b"   \n"])
def test_binary_and_empty_files(tmp_path, args, content):
    f = tmp_path / "input.yaml"
    f.write_bytes(content)
    err = _err([a.format(f=f, o=tmp_path / "o") for a in args])
    assert any(w in err for w in ("binary", "empty", "not a DuckDB")), err
    assert not (tmp_path / "o").exists()


def test_csv_without_value_column(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("id,accelerator\nx,H100\n")
    err = _err(["validate", "--data", f])
    assert "value" in err and "missing column" in err


def test_train_infinite_batch_and_zero_defaults():
    assert "--global-batch-tokens" in _err(["train", "-m", "llama-2-7b", "-c", "h100-sxm", "--global-batch-tokens", "inf"])
    assert "--global-batch-tokens" in _err(["train", "-m", "llama-2-7b", "-c", "h100-sxm", "--global-batch-tokens", "0"])
    assert "--seq-len" in _err(["train", "-m", "llama-2-7b", "-c", "h100-sxm", "--seq-len", "0"])
    assert "--budget" in _err(["explore", "x.yaml", "--budget", "0"])


def test_train_on_an_fp16_only_chip():
    code, out, err = run_cli(["train", "-m", "llama-2-7b", "-c", "ascend-910b", "-p", "fp16", "--json"])
    assert_clean(code, out, err)
    d = json.loads(out)
    assert code == 0 and 0 < d["mfu"] < 1 and d["breakdown"]["mfu_vs_bf16_peak"] is None  # the chip has no bf16
    assert "bf16" in _err(["train", "-m", "llama-2-7b", "-c", "ascend-910b", "-p", "bf16"])


# ------------------------------------------------------------------ validate: silent nonsense
def _one_row_csv(tmp_path, **over) -> Path:
    with open(E2E, newline="") as fh:
        r = csv.DictReader(fh)
        head, row = r.fieldnames, next(r)
    row.update(over)
    f = tmp_path / "rows.csv"
    with open(f, "w", newline="") as fh:
        w = csv.DictWriter(fh, head)
        w.writeheader()
        w.writerow(row)
    return f


def test_validate_refuses_header_only(tmp_path):
    f = tmp_path / "h.csv"
    f.write_text(E2E.read_text().splitlines()[0] + "\n")
    assert "no data rows" in _err(["validate", "--data", f])


@pytest.mark.parametrize("over,reason", [({"value": "nan"}, "value 'nan'"), ({"value": "-5"}, "value '-5'"),
                                         ({"value": "inf"}, "value 'inf'"), ({"value": "0"}, "value '0'"),
                                         ({"n_accelerators": "1.5"}, "n_accelerators '1.5'"),
                                         ({"n_accelerators": "0"}, "n_accelerators '0'")])
def test_validate_skips_bad_rows_with_a_reason(tmp_path, over, reason):
    j = tmp_path / "r.json"
    code, out, err = run_cli(["validate", "--data", _one_row_csv(tmp_path, **over), "--json", j])
    assert_clean(code, out, err)
    rec = json.loads(j.read_text())
    assert code == 0 and rec["rows"][0]["skipped"].startswith(reason)
    assert rec["summary"]["overall"]["n"] == 0 and "no row could be predicted" in out


# ------------------------------------------------------------------ physics guards
def test_power_limit_below_idle_names_both_numbers():
    err = _err(["serve", "-m", "llama-2-70b", "-c", "h100-sxm", "-n", "8", "--power-limit", "1"])
    # idle = static_power_fraction (0.25, family_defaults.yaml) x 700 W TDP
    assert "1 W" in err and "175 W" in err
    assert "--power-limit" in _err(["serve", "-m", "llama-2-70b", "-c", "h100-sxm", "--power-limit", "nan"])


def test_sparsity_pattern_the_chip_does_not_run():
    err = _err(["serve", "-m", "llama-2-7b", "-c", "h100-sxm", "--sparsity", "3:7"])
    assert "3:7" in err and "2:4" in err


def test_context_beyond_the_models_maximum():
    err = _err(["serve", "-m", "llama-2-70b", "-c", "h100-sxm", "-n", "8", "--input-len", "100000"])
    assert "100,256" in err and "4,096" in err  # 100000 + the default 256 output tokens; Llama-2's 4k context
    assert "2,048" in _err(["train", "-m", "gpt3-175b", "-c", "h100-sxm", "-n", "1024", "--seq-len", "4096"])


# ------------------------------------------------------------------ messages
def test_kv_cache_not_weights_is_blamed():
    err = _err(["serve", "-m", "llama-3.1-8b", "-c", "l4", "--input-len", "120000"])
    assert "weights fit" in err and "KV cache" in err


def test_pinned_tp_that_cannot_divide():
    err = _err(["serve", "--benchmark", "llama2-70b", "-c", "h100-sxm", "-n", "8", "--tp", "16"])
    assert "tp=16" in err and ": ." not in err


def test_unknown_benchmark_suggests_nothing_that_does_not_exist():
    err = _err(["serve", "--benchmark", "llama9", "-c", "h100-sxm"])
    assert "llama2-70b" in err and "tapeout inference" not in err


def test_study_given_to_explore_and_space_given_to_run(tmp_path, study):
    assert "tapeout run" in _err(["explore", study])
    space = ROOT / "studies" / "spaces" / "npu_5nm.yaml"
    assert "tapeout explore" in _err(["run", space, "--out", tmp_path / "o"])
    assert "tapeout run" in _err(["compliance", "--design", study])


def test_designs_on_empty_file(tmp_path):
    f = tmp_path / "e.duckdb"
    f.write_bytes(b"")
    assert "empty" in _err(["designs", f])


def test_workload_parameter_message_lists_real_parameters():
    err = _err(["workload-run", "dlrmv2", "--chip", "h100-sxm", "--set", "batch=3"])
    assert "unknown parameter 'batch'" in err and "batch," not in err.split("Parameters:")[1]


def test_formatter_keeps_nan_and_minus_inf_apart():
    assert fmt(float("nan")) == "n/a" and fmt(float("-inf")) == "-inf" and fmt(float("inf")) == "inf"
    assert math.isclose(float(fmt(2.5)), 2.5)


# ------------------------------------------------------------------ store during and after an exploration
SPACE = textwrap.dedent("""
    name: tiny
    parameters: {cores: [16, 32], array_rows: [64, 128], mem_stacks: [2, 4]}
    derived: {array_cols: array_rows}
    workloads: [{name: chat, kind: llm_decode, model: llama-3.1-8b, batch: 8, context: 1024, precision: fp8, tp: 1}]
    objectives: [{metric: perf_per_watt, goal: max}]
""")


def test_completed_exploration_answered_from_the_store(tmp_path, monkeypatch):
    from tapeout.explore import search

    sp = tmp_path / "s.yaml"
    sp.write_text(SPACE)
    db = str(tmp_path / "d.duckdb")
    first = search.explore(str(sp), db=db)

    def no_work(*a, **k):
        raise AssertionError("a completed exploration must not start a backend")

    monkeypatch.setattr(search, "make_backend", no_work)
    again = search.explore(str(sp), db=db)
    assert again.evaluated == 0 and again.reused == first.total == 8
    assert again.front == first.front and again.best == first.best


def test_designs_reads_while_an_exploration_holds_the_lock(tmp_path):
    from tapeout.explore import search

    sp = tmp_path / "s.yaml"
    sp.write_text(SPACE)
    db = tmp_path / "d.duckdb"
    search.explore(str(sp), db=str(db))
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from tapeout.explore.store import Store
        s = Store({str(db)!r})
        print("locked", flush=True)
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, out, err = run_cli(["designs", db, "--json"])
        assert_clean(code, out, err)
        assert code == 0 and json.loads(out)["matching"] == 8
    finally:
        holder.communicate("\n", timeout=30)
    assert db.exists()


# ------------------------------------------------------------------ round stop-24 review (issue-24rv)
@pytest.mark.parametrize("args", [["calibrate", "--out", "{d}"], ["calibrate", "--json", "{d}"],
                                  ["calibrate", "--kernels", "aiconfigurator", "--holdout", "h200", "--json", "{d}"],
                                  ["validate", "--no-rows", "--json", "{d}"], ["import", "x.onnx", "--out", "{d}"]])
def test_an_output_path_that_is_a_directory_is_refused_before_the_work(tmp_path, monkeypatch, args):
    """Was a traceback (IsADirectoryError) after the fit or the validation had run for minutes."""
    from tapeout.perf import fit
    from tapeout.validation import harness

    def no_work(*a, **k):
        raise AssertionError("the output path must be checked before the work")

    monkeypatch.setattr(fit, "fit_all", no_work)
    monkeypatch.setattr(harness, "run", no_work)
    err = _err([a.format(d=tmp_path) for a in args])
    option = args[args.index("{d}") - 1]
    assert f"{option} '{tmp_path}' is a directory" in err and "give a file name" in err


def test_an_output_folder_that_cannot_be_made_is_named(tmp_path):
    blocker = tmp_path / "f.csv"
    blocker.write_text("x")
    err = _err(["validate", "--no-rows", "--json", blocker / "v.json"])
    assert f"cannot create its folder '{blocker}'" in err and "--json" in err


def _store(tmp_path):
    from tapeout.explore import search

    sp = tmp_path / "s.yaml"
    sp.write_text(SPACE)
    db = tmp_path / "d.duckdb"
    search.explore(str(sp), db=str(db))
    return sp, db


def test_parquet_export_paths_and_filters_are_one_line(tmp_path):
    """A directory, a quote in the file name (was a SQL parser traceback) and a bad --where with
    --parquet (was a duckdb traceback)."""
    import duckdb

    sp, db = _store(tmp_path)
    assert "--parquet" in _err(["designs", db, "--parquet", tmp_path]) and "is a directory" in _err(
        ["explore", sp, "--db", db, "--parquet", tmp_path])
    assert "Parquet export" in _err(["designs", db, "--where", "bogus = 1", "--parquet", tmp_path / "w.parquet"])
    quoted = tmp_path / "it's.parquet"
    code, out, err = run_cli(["designs", db, "--parquet", quoted, "--json"])
    assert_clean(code, out, err)
    literal = quoted.as_posix().replace("'", "''")
    assert code == 0 and duckdb.connect().execute(f"SELECT count(*) FROM '{literal}'").fetchone()[0] == 8


def test_explore_options_of_the_sensitivity_sweep_are_checked_before_the_search(tmp_path, monkeypatch):
    """--baseline without --sensitivity was ignored (an unknown chip too); bad levels were found only
    after the whole search."""
    from tapeout.explore import search

    sp = tmp_path / "s.yaml"
    sp.write_text(SPACE)
    monkeypatch.setattr(search, "make_backend", lambda *a, **k: (_ for _ in ()).throw(AssertionError("searched")))
    db = tmp_path / "d.duckdb"
    assert "add --sensitivity" in _err(["explore", sp, "--db", db, "--baseline", "h100-sxm"])
    assert "unknown chip 'nochip'" in _err(["explore", sp, "--db", db, "--baseline", "nochip", "--sensitivity", "1,0.8"])
    assert "--sensitivity" in _err(["explore", sp, "--db", db, "--sensitivity", "1,2"])
    assert "at least one" in _err(["explore", sp, "--db", db, "--sensitivity", ","])


@pytest.mark.parametrize("args,option", [(["--scenario", "server"], "--scenario server"), (["--max-batch", "8"], "--max-batch")])
def test_serve_refuses_benchmark_options_without_a_benchmark(args, option):
    """Both were silently ignored: a server-scenario question got the offline answer."""
    err = _err(["serve", "-m", "llama-3.1-8b", "-c", "h100-sxm", *args])
    assert err.startswith(f"error: {option} applies to an MLPerf run") and "--benchmark" in err


def test_calibrate_exclude_never_overwrites_the_shipped_fit(tmp_path, capsys):
    """A leave-one-chip-out fit (`--exclude`) without --out leaves the packaged fitted.yaml as it was (every prediction
    reads it); with --out it is written there."""
    from importlib import resources

    from tapeout.cli import main

    shipped = resources.files("tapeout").joinpath("data", "calibration", "fitted.yaml")
    before = shipped.read_text()
    main(["calibrate", "--exclude", "h100-sxm"])
    assert shipped.read_text() == before and "give --out" in capsys.readouterr().out
    out = tmp_path / "loco.yaml"
    main(["calibrate", "--exclude", "h100-sxm", "--out", str(out)])
    assert shipped.read_text() == before and "excluded_chip: h100-sxm" in out.read_text()
