"""Latency corrections, and what the compiler refuses on RF and readout modules: two port-clocks
asking one module parameter for different values, an internal LO out of range, QRC/QTM ports."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import MarkerPulse, Schedule, SSBIntegrationComplex
from tests.unit.compiler.rf_cases import (
    TRANSMON,
    baseband,
    failure,
    program,
    sched,
    square,
    transmon_raw,
)


@pytest.fixture(scope="module")
def transmon() -> HardwareConfig:
    return load_hardware_config(TRANSMON)


# --- latency corrections ------------------------------------------------------------------------


def test_latency_corrections_are_relative_to_the_earliest(transmon: HardwareConfig) -> None:
    both = compile_schedule(
        sched((square("q0:mw", "q0.01"), 0), (square("q1:mw", "q1.01"), 0)), transmon
    )
    q0, q1 = program(both, "q0:mw"), program(both, "q1:mw")
    assert "upd_param 4" in q0  # 4 ns, the smallest: 0
    assert not any(line.startswith("set_ph ") for line in q0)
    # q1:mw is 8 - 4 = 4 ns late; the NCO phase moves with it (100 MHz * 4 ns = 0.4 turn)
    assert "upd_param 8" in q1
    assert "set_ph 600000000" in q1
    alone = compile_schedule(sched((square("q1:mw", "q1.01"), 0)), transmon)
    assert "upd_param 4" in program(alone, "q1:mw")  # alone, nothing to be late against
    raw = transmon_raw()
    raw["hardware_options"]["latency_corrections"]["q1:mw-q1.01"] = -8e-9
    negative = compile_schedule(
        sched((square("q0:mw", "q0.01"), 0), (square("q1:mw", "q1.01"), 0)),
        load_hardware_config(raw),
    )
    assert "upd_param 16" in program(negative, "q0:mw")  # 4 - (-8) = 12 ns late
    assert "upd_param 4" in program(negative, "q1:mw")


# --- conflicts and unsupported wiring ---------------------------------------------------------


def _with(change: dict[str, dict[str, Any]]) -> HardwareConfig:
    raw = transmon_raw()
    for option, entries in change.items():
        raw["hardware_options"].setdefault(option, {}).update(copy.deepcopy(entries))
    return load_hardware_config(raw)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"output_att": {"q2:mw-q2.01": 12}},
            (ErrorCode.CONFIG_BAD_VALUE, "hardware_options.output_att.q2:mw-q2.01"),
        ),
        (
            {"modulation_frequencies": {"q2:mw-q2.01": {"lo_freq": 5.1e9}}},
            (
                ErrorCode.CONFIG_FREQUENCY_INCONSISTENT,
                "hardware_options.modulation_frequencies.q2:mw-q2.01",
            ),
        ),
        (
            {
                "mixer_corrections": {
                    "q1:mw-q1.01": {"dc_offset_i": 0.01},
                    "q2:mw-q2.01": {"dc_offset_i": 0.02},
                }
            },
            (
                ErrorCode.CONFIG_BAD_VALUE,
                "hardware_options.mixer_corrections.q2:mw-q2.01.dc_offset_i",
            ),
        ),
    ],
)
def test_module_parameter_conflicts(
    change: dict[str, dict[str, Any]], expected: tuple[ErrorCode, str]
) -> None:
    s = sched((square("q1:mw", "q1.01"), 0), (square("q2:mw", "q2.01"), 100))
    assert failure(s, _with(change)) == [expected]


def test_internal_lo_out_of_range() -> None:
    s = sched((square("q1:mw", "q1.01"), 0))
    s.clocks["q1.01"] = 1.1e9  # LO 5 GHz would need an IF of -3.9 GHz: give the LO instead
    hardware = _with({"modulation_frequencies": {"q1:mw-q1.01": {"lo_freq": 1.0e9}}})
    assert failure(s, hardware) == [
        (ErrorCode.CONFIG_BAD_VALUE, "hardware_options.modulation_frequencies.q1:mw-q1.01")
    ]


def test_input_gain_conflict_on_a_shared_input() -> None:
    graph = [
        ["cluster0.module1.complex_output_0", ["q0:res", "q1:res"]],
        ["cluster0.module1.complex_input_0", ["q0:res", "q1:res"]],
    ]
    gains = {"q0:res-q0.ro": {"gain_I": 4, "gain_Q": 4}, "q1:res-q1.ro": {"gain_I": 4, "gain_Q": 6}}
    hardware = baseband({1: "QRM"}, graph, input_gain=gains)
    s = Schedule(name="gains", clocks={"q0.ro": 100e6, "q1.ro": 150e6})
    s.add(SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=400), at=0)
    s.add(SSBIntegrationComplex(port="q1:res", clock="q1.ro", duration=400, acq_channel=1), at=0)
    assert failure(s, hardware) == [
        (ErrorCode.CONFIG_BAD_VALUE, "hardware_options.input_gain.q1:res-q1.ro.gain_Q")
    ]


def test_qrc_and_qtm_ports_stay_unsupported(transmon: HardwareConfig) -> None:
    s = sched()
    s.clocks["q4.01"] = 5e9
    s.add(square("q4:mw", "q4.01"))
    assert failure(s, transmon) == [(ErrorCode.UNSUPPORTED_OPERATION, "operations[0].op.port")]


def test_markers_of_rf_module_digital_outputs(transmon: HardwareConfig) -> None:
    job = compile_schedule(
        sched((MarkerPulse(port="q1:switch", clock="digital", duration=40), 0)), transmon
    )
    marker = program(job, "q1:switch")
    assert "set_mrk 11" in marker  # digital_output_0 of a QCM-RF is bit 3, on top of 0b0011
