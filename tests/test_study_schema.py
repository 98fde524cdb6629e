"""Study files: validation errors name field and line; fuzzed files never raise tracebacks."""

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeout.cli import main
from tapeout.errors import TapeoutError
from tapeout.study.schema import Study, parse_study_text

BASE = {
    "name": "tiny",
    "chips": ["h100-sxm"],
    "workloads": [{"name": "chat", "kind": "llm-serving", "model": "llama-3.1-8b", "precision": "bf16",
                   "params": {"input_len": 256, "output_len": 64, "num_chips": 1},
                   "traffic": {"tokens_per_day": 1e9}}],
}


def test_valid_study_parses():
    s = parse_study_text(yaml.safe_dump(BASE))
    assert isinstance(s, Study)
    assert s.workloads[0].traffic.demand() == ("tokens", pytest.approx(1e9 / 86400))


def test_unknown_chip_names_field_and_line():
    text = "name: x\nworkloads:\n  - name: a\n    kind: llm-serving\n    model: llama-2-7b\n    traffic: {tokens_per_day: 1.0e9}\nchips: [h100-sxm, h999]\n"
    with pytest.raises(TapeoutError, match=r"line 7: field 'chips'.*h999"):
        parse_study_text(text)


def test_workload_without_traffic():
    d = copy.deepcopy(BASE)
    d["workloads"][0]["traffic"] = {}
    with pytest.raises(TapeoutError, match="traffic"):
        parse_study_text(yaml.safe_dump(d))


def test_misspelled_key_is_rejected():
    d = copy.deepcopy(BASE)
    d["chipz"] = d.pop("chips")
    with pytest.raises(TapeoutError, match="chipz"):
        parse_study_text(yaml.safe_dump(d))


def test_malformed_yaml_names_line():
    with pytest.raises(TapeoutError, match="line"):
        parse_study_text("name: x\nworkloads: [\n  - a: b\n")


def _cli(args, capsys):
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_existing_output_dir_needs_force(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(BASE))
    out = tmp_path / "out"
    out.mkdir()
    (out / ".tapeout-run").write_text('{"tool": "tapeout", "study_hash": "0", "study": "old.yaml"}')
    (out / "report.html").write_text("old")
    code, _, err = _cli(["run", str(f), "--out", str(out), "--quiet"], capsys)
    assert code == 2 and "--force" in err and "different study" in err


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=12))


@st.composite
def mutated_study(draw):
    d = copy.deepcopy(BASE)
    path_choice = draw(st.sampled_from(["name", "chips", "workloads.0.kind", "workloads.0.model", "workloads.0.traffic",
                                        "workloads.0.params.input_len", "workloads.0.precision", "workloads", "extra",
                                        "workloads.0.slo", "constraints", "search.budget"]))
    value = draw(st.one_of(_scalars, st.lists(_scalars, max_size=3), st.dictionaries(st.text(max_size=6), _scalars, max_size=3)))
    keys = path_choice.split(".")
    node = d
    for k in keys[:-1]:
        k = int(k) if k.isdigit() else k
        if isinstance(node, list):
            node = node[k]
        else:
            node = node.setdefault(k, {})
    last = keys[-1]
    node[int(last) if last.isdigit() else last] = value
    return d


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(d=mutated_study())
def test_fuzzed_study_parses_or_fails_cleanly(d):
    try:
        text = yaml.safe_dump(d)
    except yaml.YAMLError:
        return
    try:
        parse_study_text(text)
    except TapeoutError as e:
        assert "\n" not in str(e)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.text(max_size=200))
def test_random_text_never_tracebacks(text, tmp_path_factory, capsys):
    d = tmp_path_factory.mktemp("fz")
    f = d / "s.yaml"
    f.write_text(text)
    code, _, err = _cli(["run", str(f), "--out", str(d / "o"), "--quiet"], capsys)
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(st.sampled_from(["serve", "--model", "llama-2-7b", "--chip", "h100-sxm", "--num-chips", "-3", "0", "x",
                                      "--precision", "int4", "--json", "--batch", "99999999", "show", "chips", "--tp", "3"]),
                     min_size=1, max_size=8))
def test_fuzzed_cli_args_never_traceback(args, capsys):
    code, _, err = _cli(args, capsys)
    assert code in (0, 2), err
    assert "Traceback" not in err
