"""atheris (libFuzzer) harness over tapeout's file loaders: study, design space, design, workload
and validation CSV. Any exception other than TapeoutError (the one-line bad-input error) is a bug.

    pip install atheris && python fuzz/fuzz_loaders.py -max_total_time=300 fuzz/corpus

The seed corpus (fuzz/corpus, created on first run) holds the shipped study and design spaces
and the first rows of end_to_end.csv; libFuzzer mutates them byte-wise.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from tapeout.errors import TapeoutError
    from tapeout.explore.space import load_space
    from tapeout.rules.export import load_design
    from tapeout.study.schema import load_study
    from tapeout.validation.harness import read_rows, row_problem
    from tapeout.workloads.imported import load_workload

ROOT = Path(__file__).resolve().parents[1]
LOADERS = (load_study, load_space, load_design, load_workload, lambda p: [row_problem(r) for r in read_rows(p)])
TMP = Path(tempfile.mkdtemp(prefix="tapeout-fuzz-"))


def _seed_corpus(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    if any(d.iterdir()):
        return
    for i, f in enumerate([ROOT / "studies" / "flagship.yaml", *sorted((ROOT / "studies" / "spaces").glob("*.yaml"))]):
        (d / f"seed{i}").write_bytes(bytes([i % len(LOADERS)]) + f.read_bytes())
    csv_head = (ROOT / "src" / "tapeout" / "data" / "measured" / "end_to_end.csv").read_bytes().splitlines()[:4]
    (d / "seed_csv").write_bytes(bytes([len(LOADERS) - 1]) + b"\n".join(csv_head) + b"\n")


def one_input(data: bytes) -> None:
    if not data:
        return
    loader = LOADERS[data[0] % len(LOADERS)]
    f = TMP / "input.yaml"
    f.write_bytes(data[1:])
    try:
        loader(f)
    except TapeoutError as e:
        if "\n" in " ".join(str(e).split()):
            raise AssertionError("a TapeoutError must fit on one line") from e


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    for c in corpus:
        _seed_corpus(Path(c))
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
