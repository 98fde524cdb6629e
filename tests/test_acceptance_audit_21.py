"""Round stop-21 acceptance audit of issue 17 from a fresh clone (docs/notes/issue-17.md, branch
issue-21sd): one regression per fix, each failing before it."""

from __future__ import annotations

import pytest

from _cli import assert_clean, run_cli
from tapeout.errors import TapeoutError
from tapeout.explore.mix import compile_workload
from tapeout.explore.space import WorkloadSpec
from tapeout.workloads.llm import decode_graph, prefill_graph
from tapeout.workloads.llm_config import load_llm
from tapeout.workloads.vlm import vision_graph, vision_spec

VLM = "qwen2.5-vl-7b"


def _err(args) -> str:
    code, out, err = run_cli(args)
    assert_clean(code, out, err)
    assert code == 2, out[-500:]
    return err.strip().splitlines()[-1]


# --- What to build 4: the explorer evaluates a vision-language workload ---------------------------

def test_explorer_vlm_prefill_adds_image_tokens_and_the_encoder_split_over_tp():
    # was: TypeError traceback (LLMStep got an unexpected keyword 'images_per_request')
    w = compile_workload(WorkloadSpec(name="vlm", kind="llm_prefill", model=VLM, batch=2, input_len=1024, tp=2,
                                      images_per_request=2, image_size=448))
    # 448 px = 16 x 16 merged patches of 28 px: 256 LLM tokens per image (Qwen2.5-VL smart_resize)
    assert w.units == 2 * (1024 + 2 * 256)
    cfg = load_llm(VLM)
    text = prefill_graph(cfg, 2, 1024 + 512, "bf16", tp=2)
    enc = vision_graph(vision_spec(VLM), 4, 448, "bf16")
    assert len(w.table.ops) == len(text.ops) + len(enc.ops)
    # the encoder's FLOPs enter once per request, halved by the TP split (perf/vlm.encoder_cost)
    assert float((w.table.flops * w.table.count).sum()) == pytest.approx(text.flops + enc.flops / 2, rel=1e-9)


def test_explorer_vlm_decode_keeps_the_image_tokens_in_the_kv_cache():
    w = compile_workload(WorkloadSpec(name="vlm", kind="llm_decode", model=VLM, batch=8, context=1000,
                                      images_per_request=1, image_size=448))
    g = decode_graph(load_llm(VLM), 8, 1256, "bf16")
    assert len(w.table.ops) == len(g.ops) and w.units == 8
    assert float((w.table.flops * w.table.count).sum()) == pytest.approx(g.flops, rel=1e-9)
    assert w.memory_bytes > compile_workload(WorkloadSpec(name="t", kind="llm_decode", model=VLM, batch=8,
                                                          context=1000)).memory_bytes


@pytest.mark.parametrize("extra,field", [({"image_count": 2}, "unknown parameter 'image_count'"),
                                         ({"images_per_request": 2, "image_size": 100000}, "larger than the vision encoder"),
                                         ({"images_per_request": 1}, None)])
def test_explorer_llm_workload_bad_parameter_is_one_error_naming_the_workload(extra, field):
    model = VLM if field else "llama-3.1-8b"  # last case: images on a text-only model
    with pytest.raises(TapeoutError) as e:
        compile_workload(WorkloadSpec(name="chat", kind="llm_prefill", model=model, **extra))
    assert str(e.value).startswith("workloads 'chat' (kind llm_prefill): ")
    assert (field or "has no vision encoder") in str(e.value)


def test_explorer_catalog_workload_error_names_the_workload():
    with pytest.raises(TapeoutError, match=r"^workloads 'genrec' \(kind hstu\): seq_len must be > 0"):
        compile_workload(WorkloadSpec(name="genrec", kind="hstu", seq_len=-5))
