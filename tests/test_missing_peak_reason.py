"""A chip without the matrix peak a step needs is refused naming the spec field and the fix (round stop-35): A10G has
no sourced BF16 tensor rate (AWS / NVIDIA publish none; the A10's 125 TFLOPS at 1695 MHz does not carry over without
the A10G's clock), so its training and serving refuse with `bf16_tflops_dense`, and its MLPerf row is skipped so."""

from __future__ import annotations

import pytest

from _cli import run_cli
from tapeout import api
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.validation.other_training import training_time


def test_a10g_has_no_bf16_peak_on_file():
    assert not get_chip("a10g").supports("bf16")
    assert "bf16_tflops_dense" in get_chip("a10g").missing_peak("bf16")


def test_the_mlperf_step_names_the_missing_field():
    with pytest.raises(TapeoutError, match=r"a10g has no bf16 matrix peak: its spec bf16_tflops_dense .*add a sourced"):
        training_time("resnet", get_chip("a10g"), 2, 64, None)


@pytest.mark.parametrize("args", [["train", "--benchmark", "resnet", "--chip", "a10g", "-n", "2"],
                                  ["train", "-m", "llama3.1-8b", "--chip", "a10g", "-n", "8"],
                                  ["serve", "-m", "llama3.1-8b", "--chip", "a10g"]])
def test_cli_refuses_with_the_field_and_exit_2(args):
    code, out, err = run_cli(args)
    assert code == 2
    assert "bf16_tflops_dense" in err and "formats it runs: ." not in err
    assert len(err.strip().splitlines()) == 1


def test_the_api_refuses_alike():
    with pytest.raises(TapeoutError, match="bf16_tflops_dense"):
        api.train_benchmark("resnet", "a10g", 2)
