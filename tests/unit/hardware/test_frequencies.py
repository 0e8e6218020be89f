"""Frequency solve: RF = LO + IF, with the reference's rules for baseband, mix_lo, downconverter."""

from __future__ import annotations

from typing import Any

import pytest

from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import (
    FrequencyPlan,
    HardwareConfig,
    load_hardware_config,
    solve_frequencies,
)

from .factories import example, modules, options


def _solve(config: HardwareConfig, port: str, clock: str, freq: float) -> FrequencyPlan:
    route = config.route(port)
    assert route is not None
    opts = config.options_for(port, clock)
    return solve_frequencies(freq, route, opts, path=opts.path("modulation_frequencies"))


def _fails(config: HardwareConfig, port: str, clock: str, freq: float, phrase: str) -> None:
    with pytest.raises(QconductorError) as info:
        _solve(config, port, clock, freq)
    assert info.value.code == ErrorCode.CONFIG_FREQUENCY_INCONSISTENT
    assert info.value.path == f"hardware_options.modulation_frequencies.{port}-{clock}"
    assert phrase in info.value.message
    assert info.value.hint


def _with_modulation(name: str, key: str, value: dict[str, Any]) -> HardwareConfig:
    raw = example(name)
    options(raw, "modulation_frequencies")[key] = value
    return load_hardware_config(raw)


def test_default_config_baseband_nco_is_the_clock() -> None:
    config = load_hardware_config(example("default"))
    assert _solve(config, "q0:mw", "q0.01", 80e6) == FrequencyPlan(nco_freq=80e6, lo_freq=None)
    assert _solve(config, "q1:mw", "q1.01", -60e6).nco_freq == -60e6
    assert _solve(config, "q0:res", "q0.ro", 150e6).nco_freq == 150e6
    assert _solve(config, "q1:res", "q1.ro", 250e6).nco_freq == 250e6


def test_baseband_without_interm_freq_follows_any_clock() -> None:
    config = load_hardware_config(example("seed_v01"))
    plan = _solve(config, "q0:mw", "q0.01", 123e6)
    assert (plan.nco_freq, plan.lo_freq, plan.lo_kind, plan.nco_enabled) == (
        123e6,
        None,
        "none",
        True,
    )


def test_baseband_interm_freq_must_equal_the_clock() -> None:
    config = load_hardware_config(example("default"))
    _fails(config, "q0:mw", "q0.01", 6e9, "a baseband module without an LO")


def test_baseband_interm_freq_zero_disables_the_nco() -> None:
    config = _with_modulation("default", "q0:mw-q0.01", {"interm_freq": 0})
    plan = _solve(config, "q0:mw", "q0.01", 5e9)
    assert (plan.nco_freq, plan.nco_enabled) == (0.0, False)


def test_external_lo_given_interm_freq() -> None:
    config = load_hardware_config(example("transmon_full"))
    plan = _solve(config, "q0:mw", "q0.01", 6.1e9)
    assert plan == FrequencyPlan(100e6, 6.0e9, True, 6.1e9, "external", "lo_drive")


def test_external_lo_given_lo_freq() -> None:
    config = load_hardware_config(example("transmon_full"))
    plan = _solve(config, "q0:res", "q0.ro", 7.25e9)
    assert plan.nco_freq == pytest.approx(50e6)
    assert (plan.lo_freq, plan.lo_kind, plan.lo_name) == (7.2e9, "external", "lo_readout")


def test_internal_lo_given_lo_freq_and_given_interm_freq() -> None:
    config = load_hardware_config(example("transmon_full"))
    by_lo = _solve(config, "q1:mw", "q1.01", 5.1e9)
    assert by_lo.nco_freq == pytest.approx(100e6)
    assert (by_lo.lo_freq, by_lo.lo_kind) == (5.0e9, "internal")
    by_if = _solve(config, "q3:mw", "q3.01", 4.05e9)
    assert (by_if.nco_freq, by_if.lo_freq) == (50e6, 4.0e9)
    qrc = _solve(config, "q4:res", "q4.ro", 7.0e9)
    assert qrc.nco_freq == pytest.approx(100e6)
    assert qrc.lo_freq == 6.9e9


def test_both_given_and_consistent() -> None:
    config = _with_modulation(
        "transmon_full", "q3:mw-q3.01", {"interm_freq": 50e6, "lo_freq": 4.0e9}
    )
    plan = _solve(config, "q3:mw", "q3.01", 4.05e9)
    assert (plan.nco_freq, plan.lo_freq) == (50e6, 4.0e9)


def test_both_given_and_inconsistent() -> None:
    config = _with_modulation(
        "transmon_full", "q3:mw-q3.01", {"interm_freq": 50e6, "lo_freq": 4.0e9}
    )
    _fails(config, "q3:mw", "q3.01", 4.2e9, "lo_freq 4e+09 Hz + interm_freq 50000000 Hz")


def test_neither_given_with_an_lo() -> None:
    config = load_hardware_config(example("transmon_full"))
    _fails(config, "q2:res", "q2.other", 7.6e9, "neither interm_freq nor lo_freq")


def _mix_lo_false(interm: float | None) -> HardwareConfig:
    raw = example("transmon_full")
    modules(raw)["1"]["complex_output_0"]["mix_lo"] = False
    options(raw, "modulation_frequencies")["q0:mw-q0.01"] = {"interm_freq": interm}
    return load_hardware_config(raw)


def test_mix_lo_false_lo_runs_at_the_clock_and_nco_at_the_if() -> None:
    config = _mix_lo_false(20e6)
    plan = _solve(config, "q0:mw", "q0.01", 6.1e9)
    assert (plan.nco_freq, plan.lo_freq, plan.lo_kind) == (20e6, 6.1e9, "external")


def test_mix_lo_false_needs_an_interm_freq() -> None:
    config = _mix_lo_false(None)
    _fails(config, "q0:mw", "q0.01", 6.1e9, "with mix_lo false")


def _downconverter(freq: float) -> HardwareConfig:
    raw = example("transmon_full")
    modules(raw)["3"]["complex_output_1"] = {"downconverter_freq": freq}
    options(raw, "modulation_frequencies")["q3:mw-q3.01"] = {"lo_freq": 4.9e9}
    return load_hardware_config(raw)


def test_downconverter_turns_the_clock_around() -> None:
    config = _downconverter(9e9)
    plan = _solve(config, "q3:mw", "q3.01", 4e9)
    assert plan.rf_freq == 5e9
    assert plan.nco_freq == pytest.approx(100e6)
    assert plan.lo_freq == 4.9e9


def test_downconverter_below_the_clock_is_an_error() -> None:
    config = _downconverter(3e9)
    _fails(config, "q3:mw", "q3.01", 4e9, "downconverter_freq")


def test_digital_and_input_only_ports() -> None:
    config = load_hardware_config(example("transmon_full"))
    switch = _solve(config, "q0:switch", "digital", 0.0)
    assert (switch.nco_enabled, switch.lo_freq) == (False, None)
    nv = load_hardware_config(example("nv_center"))
    readout = _solve(nv, "qe0:optical_readout", "qe0.ge0", 470e12)
    assert readout.nco_enabled is False


def test_nv_laser_path_is_chosen_by_clock() -> None:
    config = load_hardware_config(example("nv_center"))
    plan = _solve(config, "qe0:optical_control", "qe0.ionization", 520e12)
    assert (plan.lo_kind, plan.lo_name, plan.nco_freq) == ("external", "green_laser", 200e6)
    assert plan.lo_freq == pytest.approx(520e12 - 200e6)
