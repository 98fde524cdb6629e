"""`tapeout train --vp` against the layers rule PP x VP <= layers + 2 (perf/train_layout.py,
Megatron-Core account_for_embedding/loss_in_pipeline_split): one clear error, exit 2, and the help
says the rule where a user looks."""

import pytest
from typer.testing import CliRunner

from tapeout.cli import app, main


def test_vp_past_layers_plus_two_is_one_clear_error(capsys):
    # Llama 3.1 405B: 126 layers; PP16 x VP9 = 144 > 128 virtual stages
    with pytest.raises(SystemExit) as e:
        main(["train", "--model", "llama3.1-405b", "--chip", "h100-sxm", "-n", "16384", "--tp", "8", "--pp", "16",
              "--cp", "1", "--vp", "9", "--seq-len", "8192", "--global-batch-tokens", str(2048 * 8192)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "PP x VP = 144 virtual stages exceed the 126 layers plus the embedding and the loss stage" in err
    assert "nearest valid layouts" in err and "Traceback" not in err


def test_help_states_the_vp_rule():
    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "400"}).output
    assert "PP x VP <= layers + 2" in out
