"""R-GAT (MLPerf gnn) workload and the RetinaNet / R-GAT training mappers: closed-form counts from
the benchmark definitions, the feature-table placement rule, and bad input."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from _cli import run_cli
from tapeout.errors import TapeoutError
from tapeout.perf.gnn import feature_home, feature_read_s
from tapeout.validation.other_rows import fact, map_training, training_graphs
from tapeout.validation import conv_unfused_passes
from tapeout.workloads import gnn, vision
from tapeout.workloads.blocks import as_precision


def test_rgat_parameter_count_hand_count():
    # rgnn.py RGNN('rgat', in 1024, hidden 512, heads 4, 3 layers, 2983 classes), 11 IGBH-Full relations:
    # GATConv(in, 128, heads=4): lin in x 512 (no bias) + att_src 512 + att_dst 512 + bias 512
    layer1 = 1024 * 512 + 3 * 512
    layer23 = 512 * 512 + 3 * 512
    head = 512 * 2983 + 2983
    assert gnn.rgat_params() == 11 * (layer1 + 2 * layer23) + head == 13_115_303


def test_sampled_nodes_of_the_mlperf_fanouts():
    assert gnn.hop_nodes((15, 10, 5)) == [1, 15, 150, 750]
    assert gnn.sampled_nodes((15, 10, 5)) == 916
    g = gnn.rgat_graph(batch=2, sampling="tree")
    assert g.meta["feature_bytes_per_seed"] == 916 * 1024 * 2  # fp16 features
    assert next(o for o in g.ops if o.name == "feature_gather").lookups == 2 * 916


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 30), st.integers(1, 4))
def test_sampled_nodes_geometric_closed_form(f, layers):
    assert gnn.sampled_nodes((f,) * layers) == (f ** (layers + 1) - 1) // (f - 1)


def test_message_flow_graph_shapes():
    # layer 1 projects all 916 nodes of a seed's tree; layer 3 only hops 0..1 (16 nodes); edges = sources - 1
    g = gnn.rgat_graph(batch=1, sampling="tree")
    proj = {o.name: o.m for o in g.ops if o.name.endswith(".proj")}
    assert proj == {"gat1.proj": 916, "gat2.proj": 166, "gat3.proj": 16}
    agg = {o.name: o.lookups for o in g.ops if o.name.endswith(".aggregate")}
    assert agg == {"gat1.aggregate": 915, "gat2.aggregate": 165, "gat3.aggregate": 15}


def test_benchmark_definition_consistency():
    # README: evaluation every 4,730,280 training seeds = 5% of the training seeds
    assert fact("train-rgat", "epoch_samples") / fact("train-rgat", "evals_per_epoch") == 4_730_280


def test_feature_placement_rule():
    fp8 = gnn.rgat_graph(batch=1, feature_dtype="fp8").meta["feature_table_bytes"]
    assert fp8 == pytest.approx(547_306_935 * 1024)  # mlcommons/inference graph/R-GAT README node count
    # 0.56 TB of FP8 features: 70 GB shards fit 8 x 80 GB at 90% usable; 4 chips (140 GB shards) do not
    assert str(feature_home(fp8, 8, 80e9)) == "hbm"
    assert str(feature_home(fp8, 4, 80e9)) == "host"
    assert str(feature_home(2 * fp8, 8, 80e9)) == "host"  # FP16 (1.12 TB) stays in host memory


@settings(max_examples=30, deadline=None)
@given(st.floats(1e6, 1e10), st.integers(1, 16), st.floats(1e10, 1e12), st.floats(1e10, 1e12))
def test_feature_read_closed_form(b, g, nvlink, host):
    assert float(feature_read_s(b, "host", g, nvlink, host)) == pytest.approx(b / host)
    assert float(feature_read_s(b, "hbm", g, nvlink, host)) == pytest.approx(b * (1 - 1 / g) / nvlink)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 64), st.floats(1e8, 1e10))
def test_global_shards_read_is_the_nccl_all_to_all(nodes, b):
    # WholeMemory DISTRIBUTED gathers through NCCL: the batch's rows come in an all-to-all over every chip,
    # at least the wire time of the (n-g)/n share over the NIC and the (g-1)/n share over NVLink
    from tapeout.hardware.catalog import get_chip
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.collectives import collective_time, topology_for
    chip = get_chip("h100-sxm")
    p = calibrated_params(chip)
    g, n = 8.0, 8 * nodes
    t = float(feature_read_s(b, "hbm-global", g, p.scaleup_bw, p.host_bw,
                             collective_time("all_to_all", b, n, topology_for(p, chip.family))[0]))
    assert t >= max(b * (g - 1) / n / p.scaleup_bw, b * (n - g) / n / p.scaleout_bw) * (1 - 1e-9)


def test_csc_entries_by_hand():
    # two types a (3 nodes), b (5 nodes), one a->b relation of 7 edges and one a->a relation of 4 edges:
    # a__r__b forward + reverse = 14 indices, pointers 5+1 and 3+1; a__c__a symmetric with 3 self-loops
    # = 2 x (4 + 3) indices, 3+1 pointers
    assert gnn.csc_entries({"a": 3, "b": 5}, {"a__r__b": 7, "a__c__a": 4}) == (14 + 14, 10 + 4)


def test_igbh_full_graph_structure_from_published_counts():
    idx, ptr = gnn.igbh_full_csc_entries()
    # dgl download.py edge counts; cites symmetric with one self-loop per paper; the others + their reverses
    assert idx == 2 * (3_996_442_004 + 269_346_174) + 2 * (716_761_549 + 1_050_280_600 + 48_521_486)
    assert ptr == (269_346_174 + 1) + (269_346_174 + 277_220_883 + 2) + (269_346_174 + 712_960 + 2) \
        + (277_220_883 + 26_918 + 2)
    # int64 CSC (NVIDIA preprocessing): > 100 GB, 1/8 of it on each GPU of a node
    assert (idx + ptr) * fact("rgat_train", "graph_index_bytes") > 100e9


@pytest.mark.parametrize("acc,n,home", [("NVIDIA H100-SXM", 8, "host"), ("NVIDIA H100-SXM", 4, "host"),
                                        ("NVIDIA H200-SXM", 8, "hbm"), ("NVIDIA H100-SXM", 64, "hbm-global"),
                                        ("NVIDIA H100-SXM", 512, "hbm-global")])
def test_feature_home_matches_each_config(acc, n, home):
    # training_results_v4.0: 1x8 H100 (Supermicro, ASUSTeK) and 4 x H100 (Dell) WG_SHARDING_LOCATION=cpu;
    # 8 x H200 (NVIDIA) cuda/node; 8x8 (ASUSTeK) and 64x8 (NVIDIA) H100 cuda/global/distributed
    from tapeout.hardware.catalog import get_chip, resolve_chip_id
    from tapeout.perf.calibration import calibrated_params
    from tapeout.perf.gnn import batch_feature_read
    p = calibrated_params(get_chip(resolve_chip_id(acc)))
    node = min(n, 8)
    g = gnn.rgat_graph(batch=2048 if n <= 8 else 512, feature_dtype="fp8")
    resident = sum(gnn.igbh_full_csc_entries()) * 8 / node
    home_, t = batch_feature_read(g, p, node, n, resident, "nvidia-hopper")
    assert str(home_) == home and float(t) > 0


@settings(max_examples=40, deadline=None)
@given(st.floats(1e11, 2e12), st.integers(1, 8), st.integers(1, 64), st.floats(0, 1e11), st.floats(0, 1e11))
def test_more_resident_bytes_never_moves_the_table_closer(table, g, nodes, r1, r2):
    order = {"hbm": 0, "hbm-global": 1, "host": 2}
    lo, hi = sorted((r1, r2))
    a, b = (str(feature_home(table, g, 80e9, r, g * nodes)) for r in (lo, hi))
    assert order[a] <= order[b]


def test_retinanet_training_is_three_forward_passes_of_the_trained_part():
    full = vision.retinanet_graph(4, 800, "bf16")
    g, once, _ = training_graphs("retinanet", 4)
    # the head-output concatenations (workloads/detection_train.py) and NVIDIA's backbone BN / ReLU / add and FPN
    # upsample / add kernels (validation/conv_unfused_passes.py, forward-only work) are the only ops not in the
    # inference graph
    cats = {"head.cls.cat", "head.box.cat"} | {
        o.name for o in conv_unfused_passes.all_passes(full, as_precision("bf16"), None, "retinanet")[0]}
    assert sorted(o.name for o in g.ops + once.ops if o.name not in cats) == sorted(o.name for o in full.ops)
    # frozen conv1 + layer1 (trainable_backbone_layers=3) and the decode / fused focal-loss forward run forward only
    assert once.ops and all(o.name.startswith(("stem.", "bb.s1", "decode.")) or o.name in cats for o in once.ops)
    frozen = sum(o.flops * o.count for o in once.ops if o.name not in cats)
    assert 3 * g.flops + frozen == pytest.approx(3 * full.flops - 2 * frozen)
    # stem conv 7x7x3 -> 64 at stride 2 on 800 px: 400 x 400 outputs x 147 MACs x 64 channels per image
    stem = next(o for o in once.ops if o.name == "stem.conv7x7")
    assert stem.flops * stem.count == 4 * 2 * 400 * 400 * 64 * 147


def _row(bench: str, epochs: float, n: int = 8, gb: int = 16384, acc: str = "NVIDIA H100-SXM") -> dict:
    return {"id": "x", "category": "mlperf-train", "workload": f"MLPerf Training v4.0 {bench}", "accelerator": acc,
            "n_accelerators": str(n), "notes": f"global_batch_size={gb}; median last-eval epoch_num={epochs} (x)"}


def test_training_rows_map_and_measure_throughput():
    r = map_training(_row("gnn", 0.85))
    assert r.benchmark == "train-rgat" and r.unit == "minutes" and r.detail["measures"] == "throughput"
    assert r.detail["samples_to_converge"] == pytest.approx(0.85 * 94_605_600)
    assert r.detail["feature_read_s"] > 0 and r.detail["eval_min"] > 0
    s = map_training(_row("ssd", 5, gb=256))
    assert s.benchmark == "train-retinanet" and s.detail["samples_to_converge"] == 5 * 1_170_301
    # 8 x H100 and 4 x H100 both keep the table in host memory (the configs' WG_SHARDING_LOCATION=cpu): the
    # same 2,048 seeds per chip over the same host link; 8 x H200 holds it in HBM shards: faster per step
    four = map_training(_row("gnn", 1.0, n=4, gb=8192))
    assert four.detail["feature_read_s"] == pytest.approx(r.detail["feature_read_s"])
    h200 = map_training(_row("gnn", 0.85, acc="NVIDIA H200-SXM"))
    assert h200.detail["feature_read_s"] < r.detail["feature_read_s"] / 4


@pytest.mark.parametrize("setting,field", [("fanouts=15,-1,5", "fanouts[1]"), ("fanouts=", "fanouts"),
                                           ("heads=3", "hidden"), ("fanouts=2.5", "fanouts[0]")])
def test_bad_rgat_parameters_one_line_exit_2(setting, field):
    code, out, err = run_cli(["workload-run", "rgat", "--chip", "h100-sxm", "--set", setting])
    assert code == 2
    msg = (out + err).strip()
    assert len(msg.splitlines()) == 1 and field in msg and "Traceback" not in msg


def test_rgat_runs_and_is_listed():
    code, out, _ = run_cli(["workload-run", "rgat", "--chip", "h100-sxm", "--json"])
    assert code == 0 and '"feature_home"' in out
    code, out, _ = run_cli(["workloads", "--json"])
    assert code == 0 and '"rgat"' in out and "graph_neural_network" in out
    code, out, _ = run_cli(["workload-explain", "rgat", "--chip", "h100-sxm", "--json"])
    assert code == 0 and "gat1.aggregate" in out


def test_zero_layers_in_the_builder():
    with pytest.raises(TapeoutError, match="at least one layer"):
        gnn.rgat_graph(fanouts=())
    assert math.prod(gnn.check_fanouts("15, 10, 5")) == 750


def test_preset_file_matches_the_preset():
    from tapeout.workloads.catalog import WORKLOADS, preset_files

    f = preset_files()["rgat"]["rgat"]
    assert f["defaults"] == WORKLOADS["rgat"].defaults
    assert gnn.IGBH_FULL_FEATURE_ROWS == f["nodes"]["value"]
    assert tuple(gnn.check_fanouts(f["fanouts"]["value"])) == gnn.RGAT_DEFAULTS["fanouts"]
    assert gnn.rgat_params(f["in_dim"]["value"], f["hidden"]["value"], f["heads"]["value"], f["layers"]["value"],
                           f["num_classes"]["value"]) == gnn.rgat_params()


# ---- per-relation fan-out (DGL/GLT apply an int fan-out to every edge type)

@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 20), min_size=1, max_size=4), st.floats(20, 1e4))
def test_one_dense_relation_is_the_fanout_tree(fan, deg):
    # a single relation whose mean degree is at least every fan-out draws exactly f_h per node: the tree
    assert gnn.relation_hop_nodes(fan, (("p", "p", deg),), "p") == pytest.approx(gnn.hop_nodes(fan))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(2, 20), min_size=1, max_size=4), st.floats(0.1, 1.9))
def test_sparse_relation_draws_its_degree(fan, deg):
    # mean degree below every fan-out: each node draws d neighbours, so hop h holds d^h nodes
    hops = gnn.relation_hop_nodes(fan, (("p", "p", deg),), "p")
    assert hops == pytest.approx([deg ** h for h in range(len(fan) + 1)])


def test_relation_degrees_of_a_two_type_graph_by_hand():
    # 10 papers citing 20 times (symmetric + self-loops: (2*20 + 10)/10 = 5 per paper), 30 writes edges to 6 authors
    deg = dict(((d, s), v) for d, s, v in gnn.relation_degrees({"paper": 10, "author": 6},
                                                                {"paper__cites__paper": 20, "paper__written_by__author": 30}))
    assert deg == {("paper", "paper"): 5.0, ("author", "paper"): 5.0, ("paper", "author"): 3.0}
    # seed paper, fan-out 4: 4 papers (min(4, 5)) + 3 authors (min(4, 3)); hop 2 with fan-out 2:
    # each paper 2 papers + 2 authors, each author 2 papers
    hops = gnn.relation_hop_nodes((4, 2), tuple((d, s, v) for (d, s), v in deg.items()), "paper")
    assert hops == pytest.approx([1, 7, 4 * 4 + 3 * 2])


def test_igbh_first_hop_from_the_published_counts():
    # a paper seed draws 15 citing/cited papers (mean 2 x 3,996,442,004 / 269,346,174 + 1 self-loop = 30.7 > 15),
    # all its authors (716,761,549 written_by edges / papers = 2.66) and topics (1,050,280,600 / papers = 3.90)
    hops = gnn.sampled_hops((15, 10, 5))
    assert hops[1] == pytest.approx(15 + 716_761_549 / 269_346_174 + 1_050_280_600 / 269_346_174)
    assert sum(hops) > gnn.sampled_nodes((15, 10, 5))
    g = gnn.rgat_graph(batch=1)
    assert g.meta["sampled_nodes_per_seed"] == pytest.approx(sum(hops))
    assert next(o for o in g.ops if o.name == "feature_gather").lookups == pytest.approx(sum(hops))


def test_bad_sampling_rule_one_line_exit_2():
    code, out, err = run_cli(["workload-run", "rgat", "--chip", "h100-sxm", "--set", "sampling=bogus"])
    assert code == 2 and "sampling" in (out + err) and "Traceback" not in (out + err)


def test_projected_rows_per_relation_by_hand():
    # two-type graph of the test above, fan-out (4, 2): hop 0 {paper 1}, hop 1 {paper 4, author 3},
    # hop 2 {paper 4*2 + 3*2 = 14, author 4*2 = 8}. Relations (dst, src): paper<-paper, author<-paper, paper<-author.
    deg = (("paper", "paper", 5.0), ("author", "paper", 5.0), ("paper", "author", 3.0))
    ht = gnn.relation_hop_types((4, 2), deg, "paper")
    assert ht == [{"paper": 1.0}, {"paper": 4.0, "author": 3.0}, {"paper": 14.0, "author": 8.0}]
    # last layer: destinations = the seed paper; its two relations project their sources + the seed each:
    # paper<-paper (1 + 4 sources, 1 dst), paper<-author (3 sources, 1 dst)
    assert gnn.projected_rows(ht, 2, deg) == pytest.approx((5 + 1) + (3 + 1))
    # input layer: sources = all 30 nodes (19 papers, 11 authors), destinations = hops 0..1 (5 papers, 3 authors);
    # all three relations have destinations present
    assert gnn.projected_rows(ht, 1, deg) == pytest.approx((19 + 5) + (19 + 3) + (11 + 5))
    g = gnn.rgat_graph(batch=1)
    layer3 = next(o for o in g.ops if o.name == "gat3.proj")
    # seed paper's three relations: cites (the seed + 15 papers as sources, the seed as destination),
    # rev_written_by (2.66 authors + the seed), rev_topic (3.90 topics + the seed)
    assert layer3.m == round((1 + 15 + 1) + (716_761_549 / 269_346_174 + 1) + (1_050_280_600 / 269_346_174 + 1))
