"""Published submission layouts (benchmarks.yaml `submission_layouts`) reach the training rows."""

from tapeout.perf.mlperf import benchmarks
from tapeout.perf.tp_overlap import get_overlap, overlap_names
from tapeout.validation.train_rows import PIN_FIELDS, STACK_FIELDS, submission_layout


def _row(acc, software):
    return {"accelerator": acc, "software": software}


def test_every_submission_layout_is_sourced_and_pins_known_fields():
    entries = [e for key in ("llama2-70b-lora", "gpt3-175b") for e in benchmarks()["training"][key]["submission_layouts"]]
    assert entries
    for e in entries:
        assert e["source"] and e["status"] in ("official", "published", "assumption")
        assert set(e) <= set(PIN_FIELDS) | set(STACK_FIELDS) | {"stack", "accelerator", "chip", "chips", "round",
                                                                "system", "status", "source"}
        assert e.get("tp_overlap", overlap_names()[0]) in overlap_names() + [None]  # None: the run had no overlap
        assert "system" not in e or "chip" in e  # a partner's config refines a chip-and-size entry


def test_deepspeed_rows_run_the_reference_zero3_layout():
    """The MLCommons reference: DeepSpeed ZeRO-3, batch 1 per device, gradient checkpointing."""
    pins = submission_layout("llama2-70b-lora", _row("NVIDIA H100-SXM", "NGC PyTorch Release 24.01 Deepspeed"),
                             "h100-sxm", 32)
    assert pins == {"tp": 1, "pp": 1, "cp": 1, "zero": 3, "recompute": "full", "mbs": 1}


def test_nemo_configs_by_chip_and_size():
    nemo = _row("NVIDIA L40S", "NVIDIA NeMo Framework Release 24.04")
    l40s = submission_layout("llama2-70b-lora", nemo, "l40s", 64)
    assert (l40s["tp"], l40s["cp"], l40s["fp8_attention"]) == (4, 2, False)  # config_L40S: FP8_DPA=False
    assert submission_layout("llama2-70b-lora", nemo, "l40s", 384)["skip_evals"] == 8
    # no published config for this size: only the stack-wide rule (fused_adam, no sharding); the search picks the rest
    assert submission_layout("llama2-70b-lora", nemo, "h100-sxm", 32) == {"zero": 0, "transpose_cache": False}
    # partner configs: HPE XD670 2 x 8 H100 (config_XD670_2x8x4xtp4pp1cp2.sh), Fujitsu GX2560M7 4 H100
    # (config_GX2560M7_1x4x8xtp4pp1cp1.sh, TP_COMM_OVERLAP=False): DP = chips / (TP CP), GBS 8 = DP x MINIBS
    hpe = submission_layout("llama2-70b-lora", nemo, "h100-sxm", 16)
    assert (hpe["tp"], hpe["pp"], hpe["cp"], hpe["tp_overlap"]) == (4, 1, 2, "nemo-lora-fp8-h100-tp4")
    assert 16 // (hpe["tp"] * hpe["cp"]) * 4 == 8
    fuj = submission_layout("llama2-70b-lora", nemo, "h100-sxm", 4)
    assert (fuj["tp"], fuj["cp"]) == (4, 1) and "tp_overlap" not in fuj
    assert submission_layout("llama2-70b-lora", nemo, "h100-sxm", 8)["zero"] == 0


def test_accelerator_entries_match_only_their_accelerator():
    gaudi = submission_layout("llama2-70b-lora", _row("Intel Gaudi2", "PyTorch 2.2.0"), "gaudi2", 8)
    assert gaudi["zero"] == 3 and gaudi["tp"] == 1
    assert submission_layout("llama2-70b-lora", _row("AMD MI300X", "PyTorch"), "mi300x", 8) == {}


def test_round_entries_match_only_their_round():
    """GPT-3 on 10,752 H100 ran TP4 PP6 VP8 in v4.0 (config_DGXH100_1344x8x6x4x6_mbs1_cg.sh); the v3.1
    row of the same size ran TP4 PP8 MBS1 (config_DGXH100_1344x8x8x4x8_mbs1.sh) at conf/custom.yaml's VP 12
    (no stored config_common.sh / run_and_time.sh of the round sets INTERLEAVED_PIPELINE); a round with no
    entry gets none."""
    nemo = "NVIDIA NeMo Framework Release 24.04"
    v40 = submission_layout("gpt3-175b", {"accelerator": "NVIDIA H100-SXM", "software": nemo,
                                          "workload": "MLPerf Training v4.0 gpt3"}, "h100-sxm", 10752)
    assert (v40["tp"], v40["pp"], v40["vp"], v40["mbs"]) == (4, 6, 8, 1)
    assert v40["tp_overlap"] == "nemo-gpt3-fp8-h100-tp4"
    v31 = submission_layout("gpt3-175b", {"accelerator": "NVIDIA H100-SXM", "software": nemo,
                                          "workload": "MLPerf Training v3.1 gpt3"}, "h100-sxm", 10752)
    assert v31 == {"tp": 4, "pp": 8, "vp": 12, "mbs": 1, "tp_overlap": "nemo-gpt3-fp8-h100-tp4pp8mbs1-v3.1"}
    v50 = submission_layout("gpt3-175b", {"accelerator": "NVIDIA H100-SXM", "software": nemo,
                                          "workload": "MLPerf Training v5.0 gpt3"}, "h100-sxm", 10752)
    assert v50 == {}


def test_published_gpt3_layouts_give_each_rows_global_batch():
    """NVIDIA's config names are <nodes>x8x<MINIBS>x<TP>x<PP>: GBS = MINIBS x DP with DP = chips / (TP PP).
    Every pinned GPT-3 entry must reproduce the global batch of the rows it pins (end_to_end.csv)."""
    import csv
    import re
    from tapeout.formats import data_file

    rows = [r for r in csv.DictReader(data_file("measured", "end_to_end.csv").open()) if r["category"] == "mlperf-train"
            and " gpt3" in r["workload"] and r["accelerator"] == "NVIDIA H100-SXM"]
    entries = [e for e in benchmarks()["training"]["gpt3-175b"]["submission_layouts"] if "chips" in e and e["stack"] == "nemo"]
    assert len(entries) >= 10
    for e in entries:
        name = re.search(r"config_DGXH100_(\d+)x8x(\d+)x(\d+)x(\d+)_", e["source"])
        nodes, minibs, tp, pp = map(int, name.groups())
        # v4.0's 64-node config sets MINIBS="${MINIBS:=128}" (overridable); its entry states the launch's MINIBS
        override = re.search(r"MINIBS (\d+) x DP", e["source"])
        minibs = int(override.group(1)) if override and "MINIBS:=" in e["source"] else minibs
        assert (nodes * 8, tp, pp) == (e["chips"], e["tp"], e["pp"])
        matched = [r for r in rows if r["workload"].startswith(f"MLPerf Training {e['round']}") and
                   int(r["n_accelerators"]) == e["chips"]]
        assert matched, e["source"]
        for r in matched:
            gbs = int(re.search(r"global_batch_size=(\d+)", r["notes"]).group(1))
            assert gbs == minibs * e["chips"] // (tp * pp)


def test_a_partners_own_config_overrides_nvidias_for_its_system_only():
    """Dell's XE9680 and Supermicro's AS-8125GS-TNHR configs (1x8, TP4) switch TP_COMM_OVERLAP off;
    other 8-H100 NeMo systems keep NVIDIA's config with its userbuffers overlap."""
    nemo = "NVIDIA NeMo Framework Release 24.04"
    base = {"accelerator": "NVIDIA H100-SXM", "software": nemo, "workload": "MLPerf Training v4.0 llama2_70b_lora"}
    for system in ("XE9680x8H100-SXM-80GB", "AS-8125GS-TNHR_8_H100-SXM-80GB"):
        pins = submission_layout("llama2-70b-lora", {**base, "notes": f"submitter=X; system={system}; nodes=1"}, "h100-sxm", 8)
        assert pins["tp_overlap"] is None and (pins["tp"], pins["cp"]) == (4, 1)
    other = submission_layout("llama2-70b-lora", {**base, "notes": "submitter=Oracle; system=1xBM.GPU.H100.8"}, "h100-sxm", 8)
    assert other["tp_overlap"] == "nemo-lora-fp8-h100-tp4"
    # the system's entry is for its size only
    assert submission_layout("llama2-70b-lora", {**base, "notes": "system=XE9680x8H100-SXM-80GB"}, "h100-sxm",
                             16)["tp_overlap"] == "nemo-lora-fp8-h100-tp4"


def test_64_node_configs_pin_every_rounds_512_chip_row():
    """The v3.0 and v3.1 READMEs launch 64 nodes with config_DGXH100_64x8x128x4x8_mbs1.sh: TP4 PP8 MBS1,
    MINIBS 128 x DP 16 = GBS 2048 (both rounds' 512-chip rows). v4.0's 64-node config
    config_DGXH100_64x8x128x4x8_mbs2.sh hard-sets TP4 PP8 VP4 MBS2 and TP_COMM_OVERLAP=True; only MINIBS is
    overridable (${MINIBS:=128}), and the row's GBS 2304 is MINIBS 144 x DP 16 (144 % PP = 0 as the file checks)."""
    sw = "NVIDIA NeMo Framework Release 23.09"
    for rnd in ("v3.0", "v3.1"):
        pins = submission_layout("gpt3-175b", {"accelerator": "NVIDIA H100-SXM", "software": sw,
                                               "workload": f"MLPerf Training {rnd} gpt3"}, "h100-sxm", 512)
        assert (pins["tp"], pins["pp"], pins["mbs"]) == (4, 8, 1)
        assert 128 * 512 // (pins["tp"] * pins["pp"]) == 2048
    v40 = submission_layout("gpt3-175b", {"accelerator": "NVIDIA H100-SXM", "software": "NVIDIA NeMo Framework Release 24.04",
                                          "workload": "MLPerf Training v4.0 gpt3"}, "h100-sxm", 512)
    assert (v40["tp"], v40["pp"], v40["vp"], v40["mbs"]) == (4, 8, 4, 2)
    assert v40["tp_overlap"] == "nemo-gpt3-fp8-h100-tp4"
    assert 144 * 512 // (v40["tp"] * v40["pp"]) == 2304 and 144 % v40["pp"] == 0
    e = [x for x in benchmarks()["training"]["gpt3-175b"]["submission_layouts"] if x.get("chips") == 512 and x["stack"] == "nemo"]
    assert {x["round"] for x in e} == {"v3.0", "v3.1", "v4.0"}
    assert all(x["status"] == ("published" if x["round"] == "v4.0" else "assumption") for x in e)


def test_v31_gpt3_entries_run_the_stacks_own_vp_default():
    """Every v3.1 NeMo GPT-3 entry pins the VP the nemo-23.09 stack's conf/custom.yaml defaults to
    (training_stacks.yaml virtual_pipeline_default, ${INTERLEAVED_PIPELINE,12}); with 96 layers on PP 8 that is
    one layer per model chunk, a layout the even-stage rule of that stack admits. v3.0 pins the same VP 12 from
    the v3.0 container's config_common.sh (INTERLEAVED_PIPELINE=12; the copy stored in NVIDIA+CoreWeave's folder)."""
    from tapeout.perf.train_layout import even_stages
    from tapeout.perf.train_stack import stack_table

    default = stack_table()["nemo-23.09"]["features"]["virtual_pipeline_default"]["value"]
    entries = [e for e in benchmarks()["training"]["gpt3-175b"]["submission_layouts"] if "chips" in e and e["stack"] == "nemo"]
    v31 = [e for e in entries if e["round"] == "v3.1"]
    assert len(v31) == 7 and all(e["vp"] == default == 12 for e in v31)
    assert all(even_stages(96, e["pp"], e["vp"]) and 96 // (e["pp"] * e["vp"]) == 1 for e in v31)
    v30 = [e for e in entries if e["round"] == "v3.0"]
    assert len(v30) == 4 and all(e["vp"] == 12 and "config_common.sh" in e["source"] for e in v30)


def test_gpt3_3584_runs_its_own_submission_config():
    """TRN-v3.0-0189 (3,584 H100, global batch 2688) ran config_DGXH100_448x8x24x4x8_mbs1.sh: TP4 PP8, MINIBS 24
    per data-parallel rank, micro-batch 1 (24 micro-batches per step), not a searched layout; its userbuffers file
    is v3.0's own (fc2_fprop on 20 SMs where v3.1's uses 4)."""
    pins = submission_layout("gpt3-175b", {"accelerator": "NVIDIA H100-SXM", "software": "NVIDIA NeMo Megatron Release 23.04",
                                           "workload": "MLPerf Training v3.0 gpt3"}, "h100-sxm", 3584)
    assert (pins["tp"], pins["pp"], pins["vp"], pins["mbs"]) == (4, 8, 12, 1)
    dp = 3584 // (pins["tp"] * pins["pp"])
    assert dp == 112 and 24 * dp == 2688
    v30, v31 = get_overlap("nemo-gpt3-fp8-h100-tp4pp8mbs1-v3.0"), get_overlap("nemo-gpt3-fp8-h100-tp4pp8mbs1-v3.1")
    assert v30.slot("fc2_fprop")[1] == 20 and v31.slot("fc2_fprop")[1] == 4
