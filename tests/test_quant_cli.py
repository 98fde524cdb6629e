"""CLI: quant-frontier (always) and quant-eval (quant extra)."""

import json

import pytest

from tapeout.cli import main


def test_quant_frontier_json(capsys):
    main(["quant-frontier", "--model", "llama-3.1-8b", "--chip", "h100", "--schemes", "bf16,fp8,w4a16+2:4", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert [r["scheme"] for r in rows] == ["bf16", "fp8", "w4a16+2:4"]
    assert rows[1]["tokens_per_s"] > rows[0]["tokens_per_s"]


def test_quant_frontier_table(capsys):
    main(["quant-frontier", "-m", "llama-3.1-8b", "-c", "a100", "--schemes", "bf16,w8a8"])
    out = capsys.readouterr().out
    assert "w8a8" in out and "quality" in out


def test_quant_frontier_bad_chip(capsys):
    with pytest.raises(SystemExit) as e:
        main(["quant-frontier", "-m", "llama-3.1-8b", "-c", "no-such-chip"])
    assert e.value.code == 2
