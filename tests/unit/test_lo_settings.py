"""LO settings from frequency plans: one per external LO used, conflicts refused with a path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import (
    FrequencyPlan,
    HardwareConfig,
    load_hardware_config,
    port_clock_key,
    solve_frequencies,
)
from qconductor.protocol.lo import LoSetting, lo_settings
from tests.unit.hardware.factories import example, options

# Clock frequencies of the port-clocks transmon_full.json describes (Hz).
CLOCKS = {
    ("q0:mw", "q0.01"): 5.1e9,  # lo_drive through mixer_drive, interm_freq 100 MHz
    ("q0:res", "q0.ro"): 7.25e9,  # lo_readout through mixer_readout, lo_freq 7.2 GHz
    ("q1:mw", "q1.01"): 5.05e9,  # QCM-RF internal LO: no external LO setting
    ("q0:fl", "cl0.baseband"): 0.0,  # baseband flux line: no LO at all
}


def transmon(**modulation: dict[str, Any]) -> HardwareConfig:
    raw = example("transmon_full")
    options(raw, "modulation_frequencies").update(modulation)
    return load_hardware_config(raw)


def plans(
    config: HardwareConfig, clocks: Mapping[tuple[str, str], float]
) -> dict[str, FrequencyPlan]:
    """What the compiler's frequency solve decides for each port-clock a job uses."""
    out = {}
    for (port, clock), freq in clocks.items():
        route = config.route(port)
        assert route is not None
        opts = config.options_for(port, clock)
        out[port_clock_key(port, clock)] = solve_frequencies(
            freq, route, opts, path=opts.path("modulation_frequencies")
        )
    return out


def test_transmon_full_settings_per_external_lo() -> None:
    config = transmon()
    assert lo_settings(config, plans(config, CLOCKS)) == [
        LoSetting(
            name="lo_drive",
            instrument_name="sgs100a_1",
            frequency_param="frequency",
            frequency=5.0e9,
            power_param="power",
            power=12.0,
        ),
        LoSetting(
            name="lo_readout",
            instrument_name="lo_readout",  # no instrument_name: the description's key
            frequency_param="frequency",
            frequency=7.2e9,
            power_param="power",
            power=10.0,
        ),
    ]


def test_only_the_los_a_job_uses_get_a_setting() -> None:
    config = transmon()
    used = {k: v for k, v in CLOCKS.items() if k[0] != "q0:mw"}
    assert [s.name for s in lo_settings(config, plans(config, used))] == ["lo_readout"]
    assert lo_settings(config, {}) == []


def test_parameter_names_and_power_come_from_the_config() -> None:
    raw = example("transmon_full")
    raw["hardware_description"]["lo_readout"] |= {
        "frequency_param": "ch1.freq",
        "power_param": "ch1.level",
    }
    del raw["hardware_description"]["lo_drive"]["power"]
    config = load_hardware_config(raw)
    by_name = {s.name: s for s in lo_settings(config, plans(config, CLOCKS))}
    readout = by_name["lo_readout"]
    assert (readout.frequency_param, readout.power_param) == ("ch1.freq", "ch1.level")
    assert by_name["lo_drive"].power is None  # no power in the config: left as it is


def test_port_clocks_agreeing_on_an_lo_share_it() -> None:
    # A second clock on q0:mw whose own interm_freq puts the LO at the same 5 GHz.
    config = transmon(**{"q0:mw-q0.12": {"interm_freq": 250e6}})
    clocks = dict(CLOCKS) | {("q0:mw", "q0.12"): 5.25e9}
    settings = lo_settings(config, plans(config, clocks))
    assert [(s.name, s.frequency) for s in settings] == [
        ("lo_drive", 5.0e9),
        ("lo_readout", 7.2e9),
    ]


def test_two_port_clocks_needing_one_lo_at_different_frequencies_fail() -> None:
    config = transmon(**{"q0:mw-q0.12": {"interm_freq": 200e6}})
    clocks = dict(CLOCKS) | {("q0:mw", "q0.12"): 5.25e9}  # needs lo_drive at 5.05 GHz
    with pytest.raises(QconductorError) as caught:
        lo_settings(config, plans(config, clocks))
    error = caught.value
    assert error.code == ErrorCode.CONFIG_FREQUENCY_INCONSISTENT
    assert error.path == "hardware_options.modulation_frequencies.q0:mw-q0.12"
    assert "q0:mw-q0.01" in error.message
    assert "q0:mw-q0.12" in error.message
    assert "'lo_drive'" in error.message
    assert "5e+09 Hz" in error.message
    assert "5.05e+09 Hz" in error.message
    assert error.hint


def test_every_conflict_is_reported() -> None:
    config = transmon(
        **{
            "q0:mw-q0.12": {"interm_freq": 200e6},
            "q0:res-q0.ro2": {"lo_freq": 7.3e9},
        }
    )
    clocks = dict(CLOCKS) | {("q0:mw", "q0.12"): 5.25e9, ("q0:res", "q0.ro2"): 7.4e9}
    with pytest.raises(QconductorError) as caught:
        lo_settings(config, plans(config, clocks))
    assert caught.value.code == ErrorCode.CONFIG_FREQUENCY_INCONSISTENT
    assert [d.path for d in caught.value.details] == [
        "hardware_options.modulation_frequencies.q0:mw-q0.12",
        "hardware_options.modulation_frequencies.q0:res-q0.ro2",
    ]


def test_frequencies_within_the_solver_tolerance_agree() -> None:
    config = transmon()
    base = plans(config, CLOCKS)
    near = FrequencyPlan(100e6, 5.0e9 * (1 + 1e-12), True, 5.1e9, "external", "lo_drive")
    settings = lo_settings(config, base | {"q0:mw-q0.99": near})
    assert settings[0].frequency == 5.0e9  # the first port-clock in key order sets it


def test_two_lo_entries_on_one_instrument_must_agree() -> None:
    raw = example("transmon_full")
    raw["hardware_description"]["lo_readout"]["instrument_name"] = "sgs100a_1"
    config = load_hardware_config(raw)
    with pytest.raises(QconductorError) as caught:
        lo_settings(config, plans(config, CLOCKS))
    assert caught.value.code == ErrorCode.CONFIG_FREQUENCY_INCONSISTENT
    assert caught.value.path == "hardware_description.lo_readout.instrument_name"
    assert "sgs100a_1" in caught.value.message


def test_a_plan_naming_an_undescribed_lo_is_refused() -> None:
    config = transmon()
    stray = FrequencyPlan(100e6, 5.0e9, True, 5.1e9, "external", "lo_elsewhere")
    with pytest.raises(QconductorError) as caught:
        lo_settings(config, {"q0:mw-q0.01": stray})
    assert caught.value.code == ErrorCode.CONFIG_UNKNOWN_INSTRUMENT
    assert caught.value.path == "hardware_description.lo_elsewhere"


def test_setting_is_closed_frozen_and_serialisable() -> None:
    setting = LoSetting(
        name="lo",
        instrument_name="lo",
        frequency_param="frequency",
        frequency=6e9,
        power_param=None,
        power=None,
    )
    assert LoSetting.model_validate_json(setting.model_dump_json()) == setting
    assert setting.output_enabled is True
    with pytest.raises(ValidationError):
        LoSetting.model_validate(setting.model_dump() | {"phase": 0.0})
    with pytest.raises(ValidationError):
        setting.frequency = 7e9  # type: ignore[misc]
