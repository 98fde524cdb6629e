"""A chip without the matrix peak a step needs is refused naming the spec field and the fix (round stop-35): H200 NVL
has no BF16 (or FP16) tensor rate on file (stop 41 gave the A10G, this test's first chip, a derived BF16 peak), so
its training and serving refuse with `bf16_tflops_dense`."""

from __future__ import annotations

import pytest

from _cli import run_cli
from tapeout import api
from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import get_chip
from tapeout.validation.other_training import training_time


def test_h200_nvl_has_no_bf16_peak_on_file():
    assert not get_chip("h200-nvl").supports("bf16")
    assert "bf16_tflops_dense" in get_chip("h200-nvl").missing_peak("bf16")


def test_the_mlperf_step_names_the_missing_field():
    with pytest.raises(TapeoutError, match=r"h200-nvl has no bf16 matrix peak: its spec bf16_tflops_dense .*add a sourced"):
        training_time("resnet", get_chip("h200-nvl"), 2, 64, None)


@pytest.mark.parametrize("args", [["train", "--benchmark", "resnet", "--chip", "h200-nvl", "-n", "2"],
                                  ["train", "-m", "llama3.1-8b", "--chip", "h200-nvl", "-n", "8"],
                                  ["serve", "-m", "llama3.1-8b", "--chip", "h200-nvl"]])
def test_cli_refuses_with_the_field_and_exit_2(args):
    code, out, err = run_cli(args)
    assert code == 2
    assert "bf16_tflops_dense" in err and "formats it runs: ." not in err
    assert len(err.strip().splitlines()) == 1


def test_the_api_refuses_alike():
    with pytest.raises(TapeoutError, match="bf16_tflops_dense"):
        api.train_benchmark("resnet", "h200-nvl", 2)
