"""Issue 18 item 4: every non-LLM training benchmark's RCPs per ruleset (data/mlperf/rcps.yaml, copied from
mlcommons/logging rcp_checker training_<ruleset>/rcps_*.json), rcp_checker's rule on them checked by hand, and the
rows they price: a throughput row with an RCP at its batch gets a time-to-train block, one without gets a block
that says why, and a row with no convergence of its own is predicted on time-to-train."""

from __future__ import annotations

import pytest

from tapeout.perf.convergence import no_rcp_reason, samples_to_converge
from tapeout.validation import registry
from tapeout.validation.harness import default_data, predict_row, read_rows

IMAGENET = 1_281_167  # other_benchmarks.yaml train-resnet epoch_samples
OPENIMAGES = 1_170_301  # train-retinanet epoch_samples


@pytest.fixture(scope="module")
def rows():
    registry.load_mappers()
    return {r["id"]: r for r in read_rows(default_data())}


def test_resnet_between_two_rcps_by_hand():
    """training_4.0.0 rcps_resnet.json (rounds v3.0-v4.0): BS 1632's 17 runs less 33 and 37 -> 525/15 = 35.0 epochs;
    BS 3264's 15 runs less 34 and 37 -> 457/13; BS 3200 lies between them (neither pruned: 1632 is the fastest,
    3264 is below the line from 1632 to 4096's 319/8)."""
    m1632, m3264 = 525 / 15, 457 / 13
    want = m1632 + (3200 - 1632) / (3264 - 1632) * (m3264 - m1632)
    c = samples_to_converge("train-resnet", 3200, mlperf_round="v3.1", epoch_samples=IMAGENET)
    assert c.samples == pytest.approx(want * IMAGENET, rel=1e-12)
    assert "interpolated between the RCPs at BS 1632 and 3264" in c.how


def test_retinanet_v3_0_pruning_by_hand():
    """training_3.0.0 rcps_ssd.json @d005ec5 (the stored revision with ssd_ref_768, 'before v3.0'): BS 256 -> 4
    epochs, 512 -> 5, 768 -> 5 (10 runs), 1024 -> 6, 1280 -> 6 x 7 + 7 x 13, 2048 -> 7 x 3 + 8 x 16 + 9. BS 512 lies
    above the line 256 -> 768 (4.5 < 5): pruned, a run at 512 is scored at 4.5. 768 lies below the line 256 -> 1024
    (4 + 2 x 512/768 = 5.33 > 5): kept at its own 5. 1024 lies above the line 768 -> 2048 (olympic 2048: (7 + 7 +
    16 x 8) / 18 = 142/18; 5 + 256/1280 x (142/18 - 5) = 5.58 < 6): pruned. (The @943142c revision without the 768
    list read 512 at 4.67, 768 at 5.33.)"""
    at = lambda bs: samples_to_converge("train-retinanet", bs, mlperf_round="v3.0", epoch_samples=OPENIMAGES)
    assert at(512).samples == pytest.approx(4.5 * OPENIMAGES, rel=1e-12)
    assert at(768).samples == pytest.approx(5 * OPENIMAGES, rel=1e-12) and "RCP at BS 768" in at(768).how
    assert at(1024).samples == pytest.approx((5 + 256 / 1280 * (142 / 18 - 5)) * OPENIMAGES, rel=1e-12)
    assert at(256).samples == pytest.approx(4 * OPENIMAGES)
    # the v2.0 ruleset has no 1024: 768 interpolates 256 (4) .. 4096 (15 x 11 + 16 x 3 less 14 and 16 = 197/13)
    v20 = samples_to_converge("train-retinanet", 768, mlperf_round="v2.0", epoch_samples=OPENIMAGES)
    assert v20.samples == pytest.approx((4 + (768 - 256) / (4096 - 256) * (197 / 13 - 4)) * OPENIMAGES, rel=1e-12)


def test_stable_diffusion_v3_1_counts_steps_of_the_lists_batch():
    """training_3.1.0 lists step_num (rcp_checker reads step_num in ruleset 3.1.0): BS 512's 14 runs are 13 x 5000
    and one 6000 -> olympic mean 5000 steps = 2,560,000 samples; BS 2048's 1750 x 4, 2000 x 7, 2250 x 2 less 1750
    and 2250 -> 21750/11 steps x 2048. Read as samples, the 3.1.0 lists equal the 4.0.0 file's."""
    assert samples_to_converge("train-stable-diffusion", 512, mlperf_round="v3.1").samples == 2_560_000
    assert samples_to_converge("train-stable-diffusion", 2048, mlperf_round="v3.1").samples == pytest.approx(
        (3 * 1750 + 7 * 2000 + 2250) / 11 * 2048)
    for bs in (512, 1024, 2048):
        assert samples_to_converge("train-stable-diffusion", bs, mlperf_round="v3.1").samples == pytest.approx(
            samples_to_converge("train-stable-diffusion", bs, mlperf_round="v4.0").samples)


def test_bert_rulesets_differ_where_the_files_do():
    """bert_ref_448 changed between training_2.0.0 (20 runs) and 3.1.0 (23 runs, Habana's HP set); bert counts
    samples. v2.0 has no RCP above 14,336, v3.0+ has 16,384."""
    bs256 = [2834944, 2508800, 2709504, 2609152, 2383360, 2308096, 2910208, 2333184, 2283008, 2935296, 2483712,
             2558976, 2709504, 2232832, 2333184, 2533888, 2709504, 2257920, 2609152, 2809856]
    bs3072 = [2703360, 2482176, 3072000, 2654208, 2580480, 2727936, 2605056, 2801664, 2777088, 2580480, 2875392,
              2826240, 2973696, 2850816, 2678784, 2919120, 3121152, 2605056, 2678784, 2850816]
    m256, m3072 = [(sum(v) - min(v) - max(v)) / 18 for v in (bs256, bs3072)]
    # v2.0: BS 448's 20 runs (mean 2,621,696) and BS 1536's lie above the line from 256 to 3072: both pruned
    line448 = m256 + (448 - 256) / (3072 - 256) * (m3072 - m256)
    assert samples_to_converge("train-bert", 448, mlperf_round="v2.0").samples == pytest.approx(line448, rel=1e-12)
    # v3.0+: BS 448 is the 23-run Habana list, 1,981,952 .. 2,759,680, faster than 256: BS 256 is pruned
    v31 = [2132480, 2333184, 2408448, 2483712, 2684416, 2107392, 2157568, 2709504, 2533888, 2584064, 1981952, 2182656,
           2408448, 2433536, 2333184, 2533888, 2458624, 2558976, 2584064, 2358272, 2358272, 2358272, 2759680]
    m448 = (sum(v31) - min(v31) - max(v31)) / 21
    assert samples_to_converge("train-bert", 448, mlperf_round="v3.1").samples == pytest.approx(m448, rel=1e-12)
    assert samples_to_converge("train-bert", 256, mlperf_round="v4.0").samples == pytest.approx(m448, rel=1e-12)
    assert samples_to_converge("train-bert", 16384, mlperf_round="v2.0") is None
    assert "above the largest RCP (14,336)" in no_rcp_reason("train-bert", 16384, "v2.0")
    assert samples_to_converge("train-bert", 16384, mlperf_round="v3.0") is not None


def test_unet3d_drops_four_runs_each_side():
    """rcp_checker compute_rcp_stats: samples_rejected = 4 for unet3d (1 for the others). BS 84 of training_3.1.0
    has 92 runs; dropping 4 each side differs from dropping 1."""
    import yaml
    from importlib import resources

    raw = yaml.safe_load(resources.files("tapeout").joinpath("data", "mlperf", "rcps.yaml").read_text())
    runs = sorted(next(p for p in next(e for e in raw["train-unet3d"] if "v3.1" in e["rounds"])["points"]
                       if p["bs"] == 84)["converge"])
    four, one = sum(runs[4:-4]) / (len(runs) - 8), sum(runs[1:-1]) / (len(runs) - 2)
    assert four != pytest.approx(one, rel=1e-6)
    got = samples_to_converge("train-unet3d", 84, mlperf_round="v3.1")
    assert got is not None and "RCP at BS 84" in got.how and got.samples == pytest.approx(four, rel=1e-12)


def test_a_round_without_a_ruleset_file_says_so():
    assert samples_to_converge("train-rnnt", 1536, mlperf_round="v3.0", epoch_samples=1.0) is None
    assert no_rcp_reason("train-rnnt", 1536, "v3.0").startswith("no RCPs of train-rnnt on file for v3.0")
    assert no_rcp_reason("train-resnet", 3200, "v3.1") is None


def test_row_with_an_rcp_gets_a_time_to_train_block(rows):
    r = predict_row(rows["TRN-v3.1-0004"])  # resnet v3.1, global batch 3200
    t = r.detail["time_to_train"]
    assert r.detail["measures"] == "throughput" and t["predicted"] > 0 and t["error_pct"] is not None
    assert t["global_batch"] == 3200 and "1632 and 3264" in t["rule"]


def test_row_without_an_rcp_says_why(rows):
    r = predict_row(rows["TRN-v3.0-0004"])  # rnnt v3.0: only the 1.1.0 ruleset's lists are on file
    t = r.detail["time_to_train"]
    assert r.error_pct is not None and t["predicted"] is None and "no RCPs of train-rnnt on file for v3.0" in t["reason"]


@pytest.mark.parametrize("rid", ["TRN-v3.1-0051", "TRN-v3.1-0098", "TRN-v3.1-0105", "TRN-v3.1-0111", "TRN-v3.1-0070"])
def test_stable_diffusion_v3_1_rows_are_predicted_on_time_to_train(rows, rid):
    r = predict_row(rows[rid])
    assert r.skipped is None and r.error_pct is not None
    assert r.detail["measures"] == "time-to-train" and r.detail["time_to_train"] is None
    assert r.detail["convergence"]["samples_to_converge"] == pytest.approx(samples_to_converge(
        "train-stable-diffusion", r.detail["convergence"]["global_batch"], mlperf_round="v3.1").samples)


def test_row_without_its_own_convergence_or_an_rcp_stays_skipped_saying_both(rows):
    r = predict_row(rows["TRN-v2.0-0260"])  # bert v2.0 at 16,384: epoch_num=1, above the v2.0 file's largest RCP
    assert r.error_pct is None and "not a sample count" in r.skipped and "Missing RCP" in r.skipped
