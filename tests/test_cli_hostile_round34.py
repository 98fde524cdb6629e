"""Round stop-34 hostile pass over `tapeout train` / `tapeout serve` (issues 18 / 24): the cases that were not
clean on main, one regression each. Every case: exit 2 with one line naming the option (the Python API raising
the same line), or an answer that says what an input did not do."""

from __future__ import annotations

import pytest

from _cli import refusal, run_cli
from tapeout import api
from tapeout.errors import TapeoutError
from tapeout.quant.frontier import sparsity_scheme
from tapeout.quant.transform import parse_scheme

DENSE = ["-m", "llama-3.1-8b", "-c", "h100-sxm"]


@pytest.mark.parametrize("spec, density", [("unstructured:0.5", 0.5), ("unstructured50", 0.5), ("unstructured", 0.5),
                                           ("unstructured:0.75", 0.75), ("unstructured:1", 1.0)])
def test_unstructured_sparsity_reads_both_spellings_as_the_kept_density(spec, density):
    # --sparsity's help says unstructured:0.5 and the 3:4 refusal suggests unstructured:0.75; the parser took
    # only unstructuredPCT ("unstructured:0.5" was refused with a message naming the other spelling)
    assert sparsity_scheme(spec).density == pytest.approx(density)
    assert parse_scheme(spec).density == pytest.approx(density)  # quant-frontier's scheme parts: the same rule


@pytest.mark.parametrize("spec", ["unstructured0", "unstructured:0", "unstructured150", "unstructured:1.5"])
def test_a_kept_density_outside_zero_one_is_refused(spec):
    # the new spelling meets the same (0, 1] rule as the old one (quant/transform.compress_matmul)
    err = refusal(["serve", *DENSE, "--sparsity", spec])
    assert "unstructured density must be in (0, 1]" in err


def test_serve_names_an_unknown_benchmark_before_what_it_would_set():
    # was "--model: --benchmark nope sets the model ...": the unknown name came second
    err = refusal(["serve", *DENSE, "--benchmark", "nope"])
    assert err.startswith("error: unknown inference benchmark 'nope'") and "llama2-70b" in err


@pytest.mark.parametrize("n, per", [(8, 3), (10, 4), (12, 8)])
def test_a_job_that_is_not_whole_servers_is_refused(n, per):
    # was priced on equal scale-up domains that the servers cannot form (8 chips on servers of 3)
    err = refusal(["train", *DENSE, "-n", n, "--chips-per-node", per])
    assert err.startswith(f"error: --chips-per-node {per} does not divide --num-chips {n}")
    with pytest.raises(TapeoutError, match="does not divide"):
        api.train("llama-3.1-8b", "h100-sxm", n, chips_per_node=per)


def test_non_llm_benchmark_fills_whole_servers_too():
    err = refusal(["train", "--benchmark", "resnet", "-c", "l40s", "-n", "10", "--chips-per-node", "4"])
    assert "--chips-per-node 4 does not divide --num-chips 10" in err


def test_a_power_limit_above_the_tdp_says_it_capped_nothing():
    # was accepted silently: Chip.power_capped returns the chip itself at or above its TDP
    d = api.train("llama-3.1-8b", "h100-sxm", 8, power_limit=900, tp=1, pp=1).to_dict()
    assert any("--power-limit 900 W is at or above h100-sxm's 700 W TDP: no cap applied" in n for n in d["notes"])
    code, out, _ = run_cli(["serve", *DENSE, "--power-limit", "900"])
    assert code == 0 and "no cap applied" in out


def test_a_server_size_with_no_board_on_file_says_the_catalog_domain_is_kept():
    # a tier that may span servers (GB200: NVLink across an NVL72 rack's 4-GPU trays) keeps the catalog domain, said
    d = api.train("llama-3.1-8b", "gb200", 8, chips_per_node=4, tp=1, pp=1).to_dict()
    assert any("--chips-per-node 4: no server of 4 gb200 on file" in n for n in d["notes"])
    d = api.train("llama-3.1-8b", "h100-sxm", 8, chips_per_node=4, tp=1, pp=1).to_dict()  # HGX 4-GPU board on file
    assert not any("--chips-per-node" in n for n in d["notes"])


@pytest.mark.parametrize("per", [1, 2, 3, 5, 7])
def test_a_server_below_a_boards_domain_with_no_board_of_its_size_is_refused(per):
    """H100 SXM's tier ends at its HGX board (8 GPUs, or the 4-GPU board on file): a server of 1, 2, 3, 5 or 7 is no
    board on file. Round 34 priced it on the 8-chip NVLink domain with a note that the tier 'may span servers'
    (review stop-38: peers the server does not hold); now one line naming the domain and the board sizes, exit 2."""
    with pytest.raises(TapeoutError, match=rf"^--chips-per-node {per}: no server of {per} h100-sxm is on file; .* "
                                           r"8-chip domain .* board of 4 .*: give 4 or 8 \(or a multiple of 8\)\.$"):
        api.train("llama-3.1-8b", "h100-sxm", 8 * per, chips_per_node=per, tp=1, pp=1)
    assert refusal(["train", *DENSE, "-n", str(8 * per), "--chips-per-node", str(per)]).startswith(
        f"error: --chips-per-node {per}: no server of {per} h100-sxm is on file")


def test_serve_tp_not_dividing_the_chips_names_the_options():
    # was "tp=3 must divide num_chips=4." (the Python names, no fix)
    err = refusal(["serve", *DENSE, "-n", "4", "--tp", "3"])
    assert err.startswith("error: --tp 3 must divide --num-chips 4") and "leave --tp out" in err
