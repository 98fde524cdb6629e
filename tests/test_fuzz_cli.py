"""Fuzzing the input boundary (hypothesis): CLI numbers and names, mutated study / design-space /
design YAML, binary bytes, unicode paths and validation CSVs. The property, whatever the input:
exit code 0 or 2, never a traceback, never a NaN/inf printed as a result, and no file outside
the named output touched. Example counts are kept small so the suite stays within minutes."""

from __future__ import annotations

import copy
import csv
import io
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _cli import assert_clean, run_cli
from tapeout.errors import TapeoutError
from tapeout.explore.space import load_space
from tapeout.study.schema import parse_study_text

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_YAML = [ROOT / "studies" / "flagship.yaml", ROOT / "studies" / "spaces" / "npu_5nm.yaml",
                ROOT / "studies" / "spaces" / "npu_7nm.yaml"]
E2E = ROOT / "src" / "tapeout" / "data" / "measured" / "end_to_end.csv"
FAST = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

numbers = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "0", "-1", "1e400", "1e-400", "0.5", "1e12", "3", "-0"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10, 10**13).map(str),
)
names = st.one_of(st.sampled_from(["h100-sxm", "ascend-910b", "tpu-v5e", "llama-2-7b", "mixtral-8x7b", ""]),
                  st.text(min_size=1, max_size=12).filter(lambda s: not s.startswith("-")))


def _tree(d: Path) -> dict:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*")}


# ------------------------------------------------------------------ CLI numbers and names
NUMERIC = [
    (["serve", "-m", "llama-2-7b", "-c", "h100-sxm"], ["--num-chips", "--input-len", "--output-len", "--batch", "--tp",
                                                        "--power-limit"]),
    (["train", "-m", "llama-2-7b", "-c", "h100-sxm", "-n", "8"], ["--global-batch-tokens", "--seq-len", "--power-limit", "--tp"]),
    (["cost", "--chip", "h100-sxm"], ["--volume"]),
    (["serve", "--benchmark", "llama2-70b", "-c", "h100-sxm", "-n", "8"], ["--max-batch", "--power-limit"]),
]


@FAST
@given(case=st.sampled_from(NUMERIC), data=st.data())
def test_cli_numbers(case, data):
    base, opts = case
    opt = data.draw(st.sampled_from(opts))
    val = data.draw(numbers)
    assert_clean(*run_cli(base + ["--json", f"{opt}={val}"]))


@FAST
@given(chip=names, model=names, precision=st.sampled_from(["bf16", "fp16", "fp8", "int4", "fp7", "w4a16"]))
def test_cli_names(chip, model, precision):
    assert_clean(*run_cli(["serve", "-m", model, "-c", chip, "-p", precision, "--json"]))


# ------------------------------------------------------------------ YAML: mutated shipped files, wrong types, bytes
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**15), 10**15), st.floats(allow_nan=True),
                    st.text(max_size=10), st.lists(st.integers(-3, 3), max_size=3), st.binary(max_size=8).map(repr))


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw):
    src = draw(st.sampled_from(SHIPPED_YAML))
    doc = yaml.safe_load(src.read_text())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(doc) if p]))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(scalars)
    return src, yaml.safe_dump(doc, allow_unicode=True)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(m=mutated())
def test_mutated_study_and_space_yaml(m, tmp_path_factory):
    src, text = m
    d = tmp_path_factory.mktemp("y")
    f = d / src.name
    f.write_text(text)
    try:
        if src.name == "flagship.yaml":
            parse_study_text(text, str(f))
        else:
            load_space(f)
    except TapeoutError as e:
        assert "\n" not in str(e).strip() or len(str(e)) < 2000


@FAST
@given(blob=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")
                                                                         if s.isprintable() else s.encode("utf-16"))),
       name=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\x00"), min_size=1, max_size=12),
       cmd=st.sampled_from([["explore", "{f}"], ["compliance", "--design", "{f}"], ["validate", "--data", "{f}"],
                            ["run-workload", "{f}", "--chip", "h100-sxm"], ["run", "{f}", "--out", "{o}"], ["designs", "{f}"]]))
def test_bytes_at_unicode_paths(blob, name, cmd, tmp_path_factory):
    d = tmp_path_factory.mktemp("u")
    f = d / f"{name}.yaml"
    try:
        f.write_bytes(blob)
    except OSError:  # a name the file system refuses
        return
    before = _tree(d)
    out = d / f"out-{name}"
    assert_clean(*run_cli([a.format(f=f, o=out) for a in cmd]))
    after = {k: v for k, v in _tree(d).items() if not k.startswith(f"out-{name}")}
    assert after == before  # nothing outside --out touched


@FAST
@given(die=numbers, tops=st.dictionaries(st.sampled_from(["fp8", "bf16", "int8", "fp4", "tf32", "fp7"]), numbers, max_size=3),
       extra=st.dictionaries(st.sampled_from(["num_dies", "memory_bandwidth_tbps", "tdp_w", "datacenter"]), numbers, max_size=2))
def test_design_files(die, tops, extra, tmp_path_factory):
    f = tmp_path_factory.mktemp("d") / "d.yaml"
    f.write_text(f"name: d\ndie_area_mm2: {die}\n" + "".join(f"{k}: {v}\n" for k, v in extra.items())
                 + "tops: {" + ", ".join(f"{k}: {v}" for k, v in tops.items()) + "}\n")
    assert_clean(*run_cli(["compliance", "--design", f, "--json"]))


# ------------------------------------------------------------------ validation CSVs
with open(E2E, newline="") as _fh:
    _reader = csv.DictReader(_fh)
    HEAD = _reader.fieldnames
    ROWS = [r for _, r in zip(range(400), _reader)]


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(picks=st.lists(st.integers(0, len(ROWS) - 1), max_size=3),
       edits=st.lists(st.tuples(st.sampled_from(["value", "n_accelerators", "accelerator", "scenario", "precision"]), numbers),
                      max_size=3),
       drop=st.one_of(st.none(), st.sampled_from(HEAD)))
def test_validation_csvs(picks, edits, drop, tmp_path_factory):
    rows = [dict(ROWS[i]) for i in picks]
    for r in rows:
        for k, v in edits:
            r[k] = v
    head = [h for h in HEAD if h != drop]
    buf = io.StringIO()
    w = csv.DictWriter(buf, head, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    f = tmp_path_factory.mktemp("c") / "rows.csv"
    f.write_text(buf.getvalue())
    assert_clean(*run_cli(["validate", "--data", f, "--no-rows"]))


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(out=st.sampled_from([".", "..", "proj", "proj/src", "s.yaml", "new/ünï cødé", "proj/../proj"]),
       force=st.booleans())
def test_run_never_touches_other_files(out, force, tmp_path_factory, monkeypatch):
    d = tmp_path_factory.mktemp("r")
    (d / "proj" / "src").mkdir(parents=True)
    (d / "proj" / "src" / "important.py").write_text("x = 1\n")
    study = copy.deepcopy({"name": "tiny", "chips": ["h100-sxm"],
                           "workloads": [{"name": "chat", "kind": "llm-serving", "model": "llama-3.1-8b",
                                          "params": {"input_len": 256, "output_len": 64, "num_chips": 1},
                                          "traffic": {"tokens_per_day": 1e9}}]})
    (d / "s.yaml").write_text(yaml.safe_dump(study))
    monkeypatch.chdir(d)
    before = _tree(d)
    assert_clean(*run_cli(["run", "s.yaml", "--out", out, "--quiet"] + (["--force"] if force else [])))
    after = _tree(d)
    assert {k: v for k, v in after.items() if k in before} == before  # every file that was there is untouched
