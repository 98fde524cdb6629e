"""Chip data for how a family's kernels spread over its cores (issue 18, round stop-38, issue-42d):
`attention_cta_grid` stated for every catalog family, with the kernel source it rests on or an explicit
`unsourced` status (family_defaults.yaml; shown by `tapeout show`), and `devices_per_chip`, the devices software
sees in one catalog chip (an MI250X is two GCDs, each its own GPU to ROCm with 110 of the package's 220 CUs), whose
collective communicator takes its CTAs from one device's cores (perf/comm_contention.device_cores)."""

from __future__ import annotations

import pytest

from tapeout.errors import TapeoutError
from tapeout.hardware.catalog import all_chips, family_defaults, get_chip
from tapeout.hardware.params import KERNEL_STRUCTURE
from tapeout.perf.calibration import calibrated_params
from tapeout.perf.comm_contention import core_share, device_cores

GENERIC_TEXT = "not stated for this family"


def test_every_catalog_family_states_the_attention_grid_or_marks_it_unsourced():
    """No catalog chip takes attention_cta_grid silently from the generic fallback: its family states it with a source
    (official / published), or says `unsourced` in its status and its text, and the chip's detail shows that status."""
    fams = family_defaults()
    for chip in all_chips():
        entry = fams.get(chip.family, {}).get("attention_cta_grid")
        assert entry is not None, f"{chip.family} ({chip.id}) has no attention_cta_grid of its own"
        assert GENERIC_TEXT not in entry["source"], chip.family
        assert isinstance(entry["value"], bool)
        if entry["status"] == "unsourced":
            assert entry["source"].startswith("unsourced:") and "searched" in entry["source"], chip.family
            assert chip.source_of("attention_cta_grid").endswith("[unsourced]")
        else:
            assert entry["status"] in ("official", "published") and "/" in entry["source"], chip.family  # a URL or a repository path


@pytest.mark.parametrize("cid", ["a100-sxm", "h100-sxm", "l40s", "b200"])
def test_nvidia_families_rest_on_the_flash_attention_grid(cid):
    src = get_chip(cid).source_of("attention_cta_grid")
    assert get_chip(cid).get("attention_cta_grid") is True
    assert "flash_fwd_launch_template.h" in src and "dim3 grid(num_m_block, params.b, params.h)" in src


def test_groq_compiles_attention_into_a_static_schedule_and_pays_no_cta_waves():
    """Groq's one TSP (num_cores 1) runs a compiler-built instruction schedule (ISCA 2020; US 11,868,908 B2): with the
    GPU term every attention work unit was one NVIDIA CTA latency; stated false, the context term is gone."""
    chip = get_chip("groq-lpu")
    src = chip.source_of("attention_cta_grid")
    assert chip.get("attention_cta_grid") is False and "ISCA-TSP.pdf" in src and "US 11,868,908" in src
    p = calibrated_params(chip)
    assert p.attn_unit_time == 0.0 and p.num_cores == 1.0
    assert calibrated_params(get_chip("kunlun-ii")).attn_unit_time == pytest.approx(KERNEL_STRUCTURE["attn_unit_time_us"] * 1e-6)


@pytest.mark.parametrize("cid,value,needles", [
    ("cloud-ai-100-ultra", False, ("index_Tune-performance.html", "compiled binary of a model running inferences on a set of AI cores")),
    ("arc-pro-b60", True, ("fmha_forward.hpp", "get_nd_range", "group_range{total_batches, ceil(num_queries / kBr), 1}")),
])
def test_qualcomm_compiles_attention_onto_fixed_cores_and_xe_runs_a_work_group_grid(cid, value, needles):
    chip = get_chip(cid)
    assert chip.get("attention_cta_grid") is value
    src = chip.source_of("attention_cta_grid")
    assert all(n in src for n in needles), src
    assert (calibrated_params(chip).attn_unit_time > 0) is value


def test_mi250x_collectives_share_one_gcd_of_110_cus():
    """Closed form: num_cores 220 is the package's (2 GCDs x 110 CUs, as its 383 TFLOPS are), devices_per_chip 2
    (Frontier user guide: ROCr treats each GCD as a separate GPU), so one RCCL communicator's 16 CTAs take 16/110 of a
    device's cores, not 16/220; one-device chips are unchanged."""
    chip = get_chip("mi250x")
    assert chip.get("num_cores") == 220 and chip.get("devices_per_chip") == 2
    assert "docs.olcf.ornl.gov" in chip.source_of("devices_per_chip")
    p = calibrated_params(chip)
    assert p.devices == 2.0 and device_cores(p) == 110.0
    assert core_share(16, device_cores(p)) == pytest.approx(16 / 110)
    ultra = calibrated_params(get_chip("cloud-ai-100-ultra"))
    assert device_cores(ultra) == 16.0  # 16 NSPs per SoC, 4 SoCs (one QID each) per card
    h100 = calibrated_params(get_chip("h100-sxm"))
    assert h100.devices == 1.0 and device_cores(h100) == 132.0
    # half a device's cores or more is refused against the device, not the package: 56 CTAs fit 220 but not 110
    with pytest.raises(TapeoutError, match="comm_ctas = 56 CTAs .* chip of 110 cores"):
        core_share(56, device_cores(p))


def test_a_user_chip_states_its_devices(session_chips):
    from tapeout import register_chip

    register_chip({"id": "test-one-gcd-pkg", "base": "mi250x", "specs": {"devices_per_chip": 1}})
    assert device_cores(calibrated_params(get_chip("test-one-gcd-pkg"))) == 220.0
    for bad in (0, 1.5, -2):
        with pytest.raises(TapeoutError, match="devices_per_chip"):
            register_chip({"id": "test-bad-devices", "base": "mi250x", "specs": {"devices_per_chip": bad}})


def test_more_devices_than_cores_is_refused_naming_both_fields(session_chips):
    """A device runs on at least one of the package's cores (device_cores = num_cores / devices_per_chip): 221
    devices on MI250X's 220 CUs, or a base's 2 devices kept over a num_cores of 1, is one error naming both fields
    (before, it registered and the first training run refused 'comm_ctas' against 0.995 cores)."""
    from tapeout import register_chip

    for specs in ({"devices_per_chip": 221}, {"num_cores": 1}):
        with pytest.raises(TapeoutError, match="devices_per_chip = .* more than num_cores"):
            register_chip({"id": "test-too-many-devices", "base": "mi250x", "specs": specs})
    register_chip({"id": "test-one-cu-per-device", "base": "mi250x", "specs": {"devices_per_chip": 220}})
    assert device_cores(calibrated_params(get_chip("test-one-cu-per-device"))) == 1.0


def test_a_runs_note_names_the_ctas_per_device():
    """The training note that names the overlapped collective's CTAs says they are per device on a chip of several
    devices (MI250X: 16 per GCD = 32 of the package's 220 CUs, as the model charges them); before, it said '16 CTAs'
    whatever the devices. One-device chips unchanged."""
    from tapeout.perf.comm_contention import ctas_text
    from tapeout.perf.training import train

    r = train("llama-3.1-8b", "mi250x", 16, 64 * 2048, 2048, "bf16", tp=1, pp=1, mbs=1, zero=1, comm_ctas=16)
    assert any("on 16 CTAs per device (2 devices of 110 cores each, chip data devices_per_chip: 32 of the package's "
               "cores)" in n for n in r.notes)
    assert ctas_text(16, calibrated_params(get_chip("h100-sxm"))) == "16 CTAs"


@pytest.mark.parametrize("bad", ["0", "1.5", "-2", "221"])
def test_a_bad_catalog_devices_per_chip_fails_the_load_naming_chip_and_field(monkeypatch, bad):
    """The catalog load checks the rule register_chip checks (1 <= devices_per_chip <= num_cores, a whole number):
    an extra_specs.csv row giving MI250X 0, 1.5, -2 or 221 devices (220 CUs) is one error naming the chip and the
    field; before, it loaded and a later training run divided its cores by it. Built on the unwrapped loader, so the
    session's cached catalog is untouched."""
    from tapeout.hardware import catalog

    read = catalog._read_specs

    def with_bad_row(fname):
        out = read(fname)
        if fname == "extra_specs.csv":
            out["mi250x"]["devices_per_chip"] = catalog.Spec(catalog._parse(bad), "devices", "official", "test")
        return out

    monkeypatch.setattr(catalog, "_read_specs", with_bad_row)
    with pytest.raises(TapeoutError, match=r"^data/chips mi250x\.devices_per_chip = ") as e:
        catalog._catalog.__wrapped__()
    assert str(e.value).count("devices_per_chip") == 1
    monkeypatch.setattr(catalog, "_read_specs", read)
    assert catalog._catalog.__wrapped__()["mi250x"].get("devices_per_chip") == 2  # the shipped row loads
