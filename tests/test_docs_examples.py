"""The documentation's examples run as written, so the docs cannot rot silently (issue 18, stop 39).

- Python: every ```python block of docs/getting_started.md and docs/tutorial.md runs, a page's blocks in one
  namespace in order (the tutorial's second block uses the first's `import tapeout`), and the `>>>` example of
  `tapeout.__doc__`; docs/api.md has no code blocks of its own (mkdocstrings renders the API's docstrings), so
  every `::: object` it names must import and every result class it lists must exist.
- Shell: every fenced `tapeout ...` command of README.md and docs/getting_started.md runs through the CLI in
  process and exits 0, except the few listed in SLOW with the reason (minutes on 2 cores).
- Every `tapeout ...` command the published pages show (README.md and docs/{index,getting_started,tutorial,api,
  econ,explore,quant,workloads}.md, fenced or inline, synopses with placeholders included) names a command the
  CLI has and only options that command takes: a renamed or dropped flag fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from _cli import refusal, run_cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md"] + [f"docs/{n}.md" for n in
                         ("index", "getting_started", "tutorial", "api", "econ", "explore", "quant", "workloads")]
RUN_PAGES = ["README.md", "docs/getting_started.md"]      # their concrete commands are run
PY_PAGES = ["docs/getting_started.md", "docs/tutorial.md"]  # their Python blocks are run (each < 5 s)

# concrete commands not run here, each with the reason; they are checked for their options like every other
SLOW = {
    "tapeout run studies/flagship.yaml --out out/flagship --force":
        "the flagship study takes minutes on 2 cores; tests/test_study*.py run studies on small files",
}

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(tapeout [^`]+)`")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _text(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def fenced(page: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block of a page."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(_text(page))]


def fenced_commands(page: str) -> list[str]:
    """The `tapeout ...` commands of a page's shell blocks (one per line or `&&` segment, comments dropped)."""
    out = []
    for lang, body in fenced(page):
        if lang not in ("", "bash", "sh", "console", "shell"):
            continue
        for line in body.splitlines():
            line = line.split(" #", 1)[0].strip()
            out += [seg.strip() for seg in line.split("&&") if seg.strip().startswith("tapeout ")]
    return out


def all_commands(page: str) -> list[str]:
    """Every `tapeout ...` the page shows: fenced commands and inline spans (synopses with placeholders too)."""
    inline = [m.group(1) for m in INLINE.finditer(FENCE.sub("", _text(page)))]
    return fenced_commands(page) + inline


def python_blocks(page: str) -> list[str]:
    return [body for lang, body in fenced(page) if lang in ("python", "py")]


def _cli_commands():
    import typer.main

    from tapeout.cli import _load_commands
    from tapeout.cli.app import app

    _load_commands()
    return typer.main.get_command(app).commands


def test_extraction_finds_the_examples():
    # the extraction itself can rot (a fence style or page rename): it must keep finding what the pages hold
    assert len(python_blocks("docs/getting_started.md")) >= 1 and len(python_blocks("docs/tutorial.md")) >= 2
    assert any(c.startswith("tapeout serve ") for c in fenced_commands("docs/getting_started.md"))
    assert any(c.startswith("tapeout run ") for c in fenced_commands("README.md"))
    assert sum(len(all_commands(p)) for p in PAGES) >= 40
    assert set(SLOW) <= {c for p in RUN_PAGES for c in fenced_commands(p)}, "a SLOW entry no page shows any more"


def unknown_options(shown: str, commands) -> list[str]:
    """What is wrong with one documented `tapeout ...` command: an unknown command, or options it does not take."""
    words = shown.split()
    name = words[1] if len(words) > 1 else ""
    if name not in commands:
        return [f"{shown!r}: no command {name!r}"]
    takes = {o for p in commands[name].params for o in getattr(p, "opts", []) + getattr(p, "secondary_opts", [])}
    return [f"{shown!r}: `tapeout {name}` has no option {f}" for f in FLAG.findall(shown) if f not in takes]


def test_option_check_catches_a_stale_flag():
    commands = _cli_commands()
    assert unknown_options("tapeout serve --model M --chip C [--json]", commands) == []
    assert unknown_options("tapeout serve --model M --num-gpus 8", commands) == [
        "'tapeout serve --model M --num-gpus 8': `tapeout serve` has no option --num-gpus"]
    assert unknown_options("tapeout serve-llm --model M", commands) == ["'tapeout serve-llm --model M': no command 'serve-llm'"]
    assert unknown_options("tapeout compliance --chip C \\| --design FILE [--json]", commands) == []


@pytest.mark.parametrize("page", PAGES)
def test_documented_commands_name_real_options(page):
    commands = _cli_commands()
    bad = [msg for shown in all_commands(page) for msg in unknown_options(shown, commands)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("command", sorted({c for p in RUN_PAGES for c in fenced_commands(p)} - set(SLOW)))
def test_documented_command_runs(command, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the commands are written from the repository root (studies/..., relative outputs)
    args = command.split()[1:]
    code, out, err = run_cli(args)
    assert code == 0, err[-2000:]
    assert "Traceback" not in err and out.strip()


@pytest.mark.parametrize("page", PY_PAGES)
def test_python_blocks_run(page, session_chips, capsys):
    namespace: dict = {}
    for block in python_blocks(page):
        exec(compile(block, f"{page} block", "exec"), namespace)  # noqa: S102 - the docs' own code
    printed = capsys.readouterr().out.strip().splitlines()
    if page == "docs/tutorial.md":
        # its first block prints what the text implies: one line per chip, tok/s, J/tok, USD/unit, all positive
        assert [ln.split()[0] for ln in printed] == ["h100-sxm", "h20", "mi300x"], printed
        for ln in printed:
            w = ln.split()
            assert [w[2], w[4], w[6]] == ["tok/s", "J/tok", "USD/unit"], ln
            assert float(w[1]) > 0 and float(w[3]) > 0 and float(w[5]) > 0, ln


def test_package_docstring_example_runs():
    import tapeout

    code = "\n".join(ln.strip()[4:] for ln in tapeout.__doc__.splitlines() if ln.strip().startswith(">>> "))
    assert "tapeout.serve(" in code
    namespace: dict = {}
    exec(compile(code, "tapeout.__doc__", "exec"), namespace)  # noqa: S102
    assert namespace["r"].output_tokens_per_s > 0


def test_documented_extras_exist():
    # `pip install -e ".[docs]"`, `tapeout[pandas]`, ...: every extra a page names is one pyproject.toml defines
    import tomllib

    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    named = {e.strip() for p in PAGES for group in re.findall(r"(?:\.|tapeout)\[([\w,\s-]+)\]", _text(p))
             for e in group.split(",")}
    assert {"docs", "pandas", "notebook"} <= named
    assert named <= extras, f"extras named in the docs but not in pyproject.toml: {sorted(named - extras)}"


def test_api_page_names_objects_that_exist():
    text = _text("docs/api.md")
    targets = re.findall(r"^::: ([\w.]+)", text, re.M)
    assert len(targets) >= 10
    for target in targets:
        mod, _, attr = target.rpartition(".")
        try:
            obj = importlib.import_module(target)
        except ModuleNotFoundError:
            obj = getattr(importlib.import_module(mod), attr, None)
        assert obj is not None, f"docs/api.md: ::: {target} does not resolve"
    from tapeout.api import results

    members = re.search(r"members: \[([^\]]+)\]", text).group(1).split(",")
    missing = [m.strip() for m in members if not hasattr(results, m.strip())]
    assert not missing, f"docs/api.md lists result classes tapeout.api.results lacks: {missing}"


def test_transcode_refusal_names_the_cli_flag():
    # docs/workloads.md: `tapeout transcode --chip C`; a chip without a decode rate on file is refused with a fix
    # the CLI user can type (the flag), not only the Python argument
    msg = refusal(["transcode", "--chip", "mi300x"])
    assert "video_decode_fps_1080p_h264" in msg and "--software-codec" in msg
    code, out, err = run_cli(["transcode", "--chip", "mi300x", "--software-codec"])
    assert code == 0 and "frames/s" in out, err[-1000:]


def test_documented_memory_refusal_is_the_clis():
    # docs/getting_started.md quotes the refusal of a per-chip batch that does not fit (validation/train_fit.py):
    # the quoted text is what the quoted command prints, so a changed rule or message shows up here
    text = _text("docs/getting_started.md")
    block = re.search(r"`(tapeout train --benchmark [^`]+)`:\s*\n\n```text\n(.*?)```", text, re.S)
    assert block, "getting_started.md: the memory refusal example (an inline command, then a text block) is missing"
    command, quoted = block.group(1), " ".join(block.group(2).split())
    msg = refusal(command.split()[1:])
    assert " ".join(msg.split()) == quoted
    assert "the largest per-chip batch that fits is" in msg


def test_documented_architectures_are_the_supported_ones():
    # docs/getting_started.md lists the config.json model types --model prices: exactly the loader's list
    from tapeout.workloads.llm_config import SUPPORTED_MODEL_TYPES

    text = _text("docs/getting_started.md")
    listed = re.search(r"The architectures it prices \(`model_type`\):(.*?)\. ", text, re.S)
    assert listed, "getting_started.md: the list of supported model types is missing"
    documented = set(re.findall(r"[a-z][a-z0-9_]*", listed.group(1)))
    assert documented == set(SUPPORTED_MODEL_TYPES)
