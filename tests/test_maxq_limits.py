"""The MaxQ power limits of data/mlperf/maxq_power_limits.yaml (validation/maxq.py): every entry is
either a sourced limit or a recorded absence; the limits read from NVIDIA's v4.1 submission configs
are the config's `power_limit`; a MaxQ row is priced on the chip capped at that limit, and a row whose
limit was looked for and not found is skipped with the reason the file gives."""

import csv
from importlib import resources

import pytest

from tapeout.hardware import get_chip
from tapeout.validation.maxq import maxq_chip, power_limits
from tapeout.validation.other_rows import map_inference
from tapeout.validation.registry import SkipRow

# (benchmark key, scenario) -> watts: `power_limit` of class H200_SXM_141GBx8_MaxQ in NVIDIA's MLPerf
# Inference v4.1 config closed/<submitter>/configs/<benchmark>/<scenario>/__init__.py, mlcommons/
# inference_results_v4.1 @ a2f5d66d17e8f75c02fd74dfe810ecca6a046696 (NVIDIA's own file where stored, else
# the copy of NVIDIA's tree a partner ships: HPE 3d-unet Offline, mixtral-8x7b Offline/Server; GigaComputing
# dlrm-v2 Offline, resnet50 Server, retinanet Server).
CONFIG_POWER_LIMIT_W = {
    ("3d-unet", "Offline"): 350,
    ("dlrmv2", "Offline"): 500,
    ("mixtral-8x7b", "Offline"): 500,
    ("mixtral-8x7b", "Server"): 500,
    ("resnet50", "Server"): 300,
    ("retinanet", "Server"): 350,
    ("bert", "Server"): 400,
    ("dlrmv2", "Server"): 500,
    ("gptj", "Offline"): 350,
    ("gptj", "Server"): 350,
    ("llama2-70b", "Offline"): 500,
    ("llama2-70b", "Server"): 500,
    ("sdxl", "Offline"): 450,
    ("sdxl", "Server"): 450,
}
MAXQ_ROW = {"accelerator": "NVIDIA H200-SXM", "notes": "system=NVIDIA H200 (8x H200-SXM-141GB, MaxQ, TensorRT)"}


def _entries():
    for chip, benches in power_limits().items():
        for bench, scenarios in benches.items():
            for scen, entry in scenarios.items():
                yield chip, bench, scen, entry


def test_every_entry_is_a_sourced_limit_or_a_recorded_absence():
    seen = 0
    for chip, bench, scen, entry in _entries():
        seen += 1
        assert scen in ("Offline", "Server"), (bench, scen)
        if "value" in entry:
            assert 0 < float(entry["value"]) < float(get_chip(chip).get("tdp_w")), (bench, scen)
            assert entry["source"].startswith("https://github.com/mlcommons/inference_results_v4.1/"), (bench, scen)
            assert "power_limit" in entry["source"], (bench, scen)
        else:
            assert set(entry) == {"missing"} and entry["missing"].strip(), (bench, scen)
    assert seen >= len(CONFIG_POWER_LIMIT_W)


def test_h200_limits_are_what_nvidias_v41_configs_set():
    h200 = power_limits()["h200"]
    for (bench, scen), watts in CONFIG_POWER_LIMIT_W.items():
        assert h200[bench][scen]["value"] == watts, (bench, scen)
    # the 99.9% classes: BERT Server's HighAccuracy_MaxQ sets its own limit (450 W); dlrm-v2 Offline's and
    # 3d-unet Offline's HighAccuracy_MaxQ set the same limit as the 99% class, so no high_accuracy key
    assert h200["bert"]["Server"]["high_accuracy"]["value"] == 450
    assert "high_accuracy" not in h200["dlrmv2"]["Offline"] and "high_accuracy" not in h200["3d-unet"]["Offline"]


@pytest.mark.usefixtures("session_chips")
def test_a_maxq_row_is_priced_on_the_capped_chip():
    rows = [r for r in csv.DictReader(resources.files("tapeout").joinpath("data", "measured", "end_to_end.csv").open())
            if r["id"] == "INF-v4.1-0441"]  # retinanet Server, 8x H200 MaxQ (NVIDIA)
    assert len(rows) == 1 and "MaxQ" in rows[0]["notes"]
    pred = map_inference(rows[0])
    assert pred.detail["chip"] == "h200@350w"
    assert get_chip(pred.detail["chip"]).get("tdp_w") == 350
    full = map_inference({**rows[0], "notes": rows[0]["notes"].replace("MaxQ, ", ""),
                          "source": rows[0]["source"].replace("_MaxQ", "")})
    assert full.detail["chip"] == "h200"
    assert 0 < pred.predicted < full.predicted  # the cap lowers the clock, never raises throughput


@pytest.mark.usefixtures("session_chips")
def test_a_recorded_absence_is_the_skip_reason():
    entry = power_limits()["h200"]["bert"]["Offline"]
    with pytest.raises(SkipRow, match="no sourced power limit for h200 bert offline") as e:
        maxq_chip(MAXQ_ROW, get_chip("h200"), "bert", "offline")
    assert entry["missing"] in str(e.value)
    with pytest.raises(SkipRow, match="no sourced power limit for h200 whisper offline in data/mlperf/maxq_power_limits.yaml$"):
        maxq_chip(MAXQ_ROW, get_chip("h200"), "whisper", "offline")
