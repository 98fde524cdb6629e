"""The main job runs without the kernels extra (aiconfigurator-core): CI installs the extra, so this test hides it in a
subprocess (import blocked, package metadata missing) and runs the commands a user without it runs. The default
predictions must not touch the database; `--kernels` must fail in one line naming the extra."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HIDE = textwrap.dedent("""
    import importlib.metadata as md, sys
    _version = md.version
    def version(name):
        if name.replace('_', '-').lower() == 'aiconfigurator-core':
            raise md.PackageNotFoundError(name)
        return _version(name)
    md.version = version
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('aiconfigurator_core', 'aiconfigurator'):
                raise ModuleNotFoundError(f"No module named '{name}'")
    sys.meta_path.insert(0, _Block())
    from tapeout.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as e:
        sys.exit(e.code)
""")


def run(*args):
    return subprocess.run([sys.executable, "-c", HIDE, *args], capture_output=True, text=True, timeout=600)


def test_default_serving_and_training_run_without_the_database():
    r = run("serve", "-m", "llama-3.1-8b", "-c", "h200", "-p", "fp8", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["output_tokens_per_s"] > 0
    r = run("train", "-m", "llama-3.1-8b", "-c", "h100-sxm", "-n", "8", "--seq-len", "2048", "--global-batch-tokens", "1048576", "--json")
    assert r.returncode == 0, r.stderr
    assert 0 < json.loads(r.stdout)["mfu"] < 1


def test_kernels_flag_without_the_extra_is_one_line_naming_it():
    for args in (["serve", "-m", "llama-3.1-8b", "-c", "h200", "--kernels", "aiconfigurator"],
                 ["calibrate", "--kernels", "aiconfigurator", "--holdout", "h200"]):
        r = run(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "tapeout[kernels]" in r.stderr, (args, r.stderr)
