"""RF modules, real channels and mixer corrections: sequencer settings and module parameters
per module type and channel kind, the RF output switches, and real mode."""

from __future__ import annotations

from typing import Any

import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.compiler.settings import input_routes, off_settings, output_routes
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.hardware import HardwareConfig, ModuleType, load_hardware_config
from qconductor.protocol.schedule import (
    DragPulse,
    GaussPulse,
    MarkerPulse,
    NumericalPulse,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
    VoltageOffset,
)
from tests.unit.compiler.rf_cases import (
    TRANSMON,
    baseband,
    failure,
    module,
    program,
    sched,
    seq,
    square,
    transmon_raw,
)


@pytest.fixture(scope="module")
def transmon() -> HardwareConfig:
    return load_hardware_config(TRANSMON)


# --- channel maps -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module_type", "channels", "routes"),
    [
        ("QCM", ["complex_output_0"], {0: "I", 1: "Q", 2: "off", 3: "off"}),
        ("QCM", ["complex_output_1"], {0: "off", 1: "off", 2: "I", 3: "Q"}),
        ("QCM", ["real_output_2"], {0: "off", 1: "off", 2: "I", 3: "off"}),
        ("QRM", ["complex_output_0"], {0: "I", 1: "Q"}),
        ("QRM", ["real_output_1"], {0: "off", 1: "I"}),
        ("QCM_RF", ["complex_output_1"], {0: "off", 1: "IQ"}),
        ("QCM_RF", ["digital_output_0"], {0: "off", 1: "off"}),
        ("QRM_RF", ["complex_output_0"], {0: "IQ"}),
    ],
)
def test_output_channel_maps(
    module_type: ModuleType, channels: list[str], routes: dict[int, str]
) -> None:
    assert output_routes(module_type, channels) == routes


@pytest.mark.parametrize(
    ("module_type", "channels", "routes"),
    [
        ("QRM", ["complex_input_0"], {"connect_acq_I": "in0", "connect_acq_Q": "in1"}),
        ("QRM", ["real_input_0"], {"connect_acq_I": "in0", "connect_acq_Q": "off"}),
        ("QRM", ["real_input_1"], {"connect_acq_I": "off", "connect_acq_Q": "in1"}),
        ("QRM", ["real_input_0", "real_input_1"], {"connect_acq_I": "in0", "connect_acq_Q": "in1"}),
        ("QRM_RF", ["complex_input_0"], {"connect_acq": "in0"}),
        ("QRM_RF", [], {"connect_acq": "off"}),
        ("QCM_RF", [], {}),
    ],
)
def test_input_channel_maps(
    module_type: ModuleType, channels: list[str], routes: dict[str, str]
) -> None:
    assert input_routes(module_type, channels) == routes


@pytest.mark.parametrize("module_type", ["QCM", "QRM", "QCM_RF", "QRM_RF"])
def test_unused_sequencers_connect_nothing(module_type: ModuleType) -> None:
    params = off_settings(module_type).parameters()
    assert params["sync_en"] is False
    assert {v for k, v in params.items() if k.startswith("connect")} == {"off"}
    assert (params["mixer_corr_gain_ratio"], params["mixer_corr_phase_offset_degree"]) == (1, 0)
    assert ("connect_acq" in params) == (module_type == "QRM_RF")
    assert ("connect_acq_I" in params) == (module_type == "QRM")


# --- every module type of transmon_full.json ------------------------------------------------


def test_rf_and_baseband_module_parameters(transmon: HardwareConfig) -> None:
    job = compile_schedule(
        sched(
            (GaussPulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=40), 0),
            (square("q1:mw", "q1.01"), 0),
            (square("q1:res", "q1.ro"), 100),
            (SSBIntegrationComplex(port="q1:res", clock="q1.ro", duration=400), 200),
            (SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=400, acq_channel=1), 0),
        ),
        transmon,
    )
    assert module(job, 1).parameters == {
        "out0_offset": 0.012,  # mixer_corrections q0:mw dc_offset_i/q, volts
        "out1_offset": -0.004,
        "out2_offset": 0.0,
        "out3_offset": 0.0,
    }
    assert module(job, 2).parameters == {
        "out0_offset": -0.002,
        "out1_offset": 0.001,
        "in0_gain": 4,
        "in1_gain": 4,
    }
    assert module(job, 3).parameters == {
        "out0_att": 10,  # output_att q1:mw, an int as the driver's validator wants
        "out0_lo_freq": 5.0e9,
        "out0_lo_en": True,
        "out0_offset_path0": 0.0,  # auto_lo_cal on: the DC offsets are not set from the config
        "out0_offset_path1": 0.0,
        "out1_offset_path0": 0.0,
        "out1_offset_path1": 0.0,
        "out1_att": 0,
        "out1_lo_en": False,  # no port-clock of the job uses output 1: its LO is off
    }
    assert module(job, 4).parameters == {
        "out0_att": 20,
        "in0_att": 10,
        "out0_in0_lo_freq": 7.5e9,
        "out0_in0_lo_en": True,
        "out0_offset_path0": 0.0,
        "out0_offset_path1": 0.0,
    }
    assert [c.name for c in job.clusters] == ["cluster0"]
    assert {m.module_type for m in job.clusters[0].modules} == {"QCM", "QRM", "QCM_RF", "QRM_RF"}


def test_rf_offsets_are_millivolts() -> None:
    raw = transmon_raw()
    raw["hardware_options"]["mixer_corrections"]["q3:mw-q3.01"] |= {
        "dc_offset_i": 0.021,
        "dc_offset_q": -0.0125,
    }
    job = compile_schedule(sched((square("q3:mw", "q3.01"), 0)), load_hardware_config(raw))
    params = module(job, 3).parameters
    assert (params["out1_offset_path0"], params["out1_offset_path1"]) == (21.0, -12.5)
    assert (params["out1_lo_freq"], params["out1_att"], params["out1_lo_en"]) == (5e9, 6, True)


def test_sequencer_settings_per_channel_kind(transmon: HardwareConfig) -> None:
    job = compile_schedule(
        sched(
            (square("q0:mw", "q0.01"), 0),
            (square("q3:mw", "q3.01"), 0),
            (square("q1:mw", "q1.01"), 0),
            (square("q1:fl", "cl0.baseband"), 0),
            (square("q1:res", "q1.ro"), 100),
            (SSBIntegrationComplex(port="q1:res", clock="q1.ro", duration=400), 200),
        ),
        transmon,
    )
    drive = seq(job, "q0:mw").settings  # QCM complex output through an IQ mixer
    assert (drive.mixer_corr_gain_ratio, drive.mixer_corr_phase_offset_degree) == (0.98, 1.5)
    assert (drive.nco_freq, drive.connect_out0, drive.connect_out1) == (100e6, "I", "Q")
    rf = seq(job, "q3:mw").settings  # QCM-RF output 1
    assert (rf.connect_out0, rf.connect_out1, rf.nco_freq) == ("off", "IQ", 50e6)
    assert (rf.mixer_corr_gain_ratio, rf.mixer_corr_phase_offset_degree) == (1.02, -2.0)
    auto = seq(job, "q1:mw").settings  # auto_sideband_cal: the config's values do not apply
    assert (auto.mixer_corr_gain_ratio, auto.mixer_corr_phase_offset_degree) == (1.0, 0.0)
    flux = seq(job, "q1:fl").settings  # QCM real_output_3
    assert [getattr(flux, f"connect_out{k}") for k in range(4)] == ["off", "off", "off", "I"]
    readout = seq(job, "q1:res").settings  # QRM-RF
    assert (readout.connect_out0, readout.connect_acq, readout.demod_en_acq) == ("IQ", "in0", True)
    assert readout.connect_acq_I is None
    assert readout.connect_out1 is None


# --- RF output switches -------------------------------------------------------------------------


def test_rf_switch_held_for_the_whole_program(transmon: HardwareConfig) -> None:
    job = compile_schedule(
        sched(
            (square("q3:mw", "q3.01"), 0),
            (square("q1:res", "q1.ro"), 0),
            (MarkerPulse(port="q1:switch", clock="digital", duration=40), 100),
            (square("q0:mw", "q0.01"), 0),
        ),
        transmon,
    )
    qcm_rf = program(job, "q3:mw")
    head = qcm_rf.index("reset_ph")
    assert "set_mrk 2" in qcm_rf[head : qcm_rf.index("upd_param 4")]  # complex_output_1 switch
    assert qcm_rf[-3:] == ["set_mrk 0", "upd_param 4", "stop"]  # off when the job ends
    assert "set_mrk 2" in program(job, "q1:res")  # QRM-RF output switch
    marker = program(job, "q1:switch")  # QCM-RF digital_output_0 = 0b1000, both switches held
    markers = [line for line in marker if line.startswith("set_mrk")]
    assert markers[:3] == ["set_mrk 3", "set_mrk 11", "set_mrk 3"]
    assert not any(line.startswith("set_mrk") for line in program(job, "q0:mw"))  # baseband


def test_rf_output_off_holds_no_switch_and_warns() -> None:
    raw = transmon_raw()
    raw["hardware_description"]["cluster0"]["modules"]["3"]["rf_output_on"] = False
    job = compile_schedule(sched((square("q3:mw", "q3.01"), 0)), load_hardware_config(raw))
    assert not any(line.startswith("set_mrk") for line in program(job, "q3:mw"))
    assert [(w.code, w.path) for w in job.warnings] == [
        (ErrorCode.CONFIG_BAD_VALUE, "hardware_description.cluster0.modules.3.rf_output_on")
    ]


# --- real mode ----------------------------------------------------------------------------------

REAL_QRM = [
    ["cluster0.module1.real_output_1", "q0:fl"],
    ["cluster0.module2.real_output_1", "q0:ro"],
    ["cluster0.module2.real_input_1", "q0:ro"],
]


def test_real_output_plays_path_i_only_without_a_q_waveform() -> None:
    hardware = baseband({1: "QCM", 2: "QRM"}, REAL_QRM, input_gain={"q0:ro-q0.ro": 6})
    s = Schedule(name="real", clocks={"q0.fl": 100e6, "q0.ro": 50e6})
    s.add(GaussPulse(port="q0:fl", clock="q0.fl", amplitude=0.5, duration=40, phase=180))
    s.add(square("q0:ro", "q0.ro"), at=0)
    s.add(SSBIntegrationComplex(port="q0:ro", clock="q0.ro", duration=400), at=100)
    job = compile_schedule(s, hardware)
    flux = seq(job, "q0:fl")
    assert flux.sequence is not None
    assert len(flux.sequence.waveforms) == 1  # the Q part is zero and not stored
    (gain,) = [line for line in program(job, "q0:fl") if line.startswith("set_awg_gain")]
    assert gain.endswith(", 0")  # the Q path plays nothing
    assert [getattr(flux.settings, f"connect_out{k}") for k in range(4)] == [
        "off",
        "I",
        "off",
        "off",
    ]
    ro = seq(job, "q0:ro").settings
    assert (ro.connect_out0, ro.connect_out1, ro.connect_acq_I, ro.connect_acq_Q) == (
        "off",
        "I",
        "off",
        "in1",
    )
    assert module(job, 2).parameters == {
        "out0_offset": 0.0,
        "out1_offset": 0.0,
        "in0_gain": 0,
        "in1_gain": 6,  # a real gain sets the input numbered like the port's channel
    }


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (SquarePulse(port="q0:fl", clock="q0.fl", amplitude=0.5, duration=40, phase=90), "phase"),
        (DragPulse(port="q0:fl", clock="q0.fl", amplitude=0.5, duration=40, beta=2.0), "beta"),
        (
            NumericalPulse(
                port="q0:fl", clock="q0.fl", samples_i=[0.1] * 8, samples_q=[0.1] * 8, duration=8
            ),
            "samples_q",
        ),
        (VoltageOffset(port="q0:fl", clock="q0.fl", offset_i=0.1, offset_q=0.1), "offset_q"),
    ],
)
def test_a_q_part_on_a_real_output_is_refused(op: Any, field: str) -> None:
    hardware = baseband({1: "QCM"}, [["cluster0.module1.real_output_0", "q0:fl"]])
    s = Schedule(name="real", clocks={"q0.fl": 100e6})
    s.add(op)
    assert failure(s, hardware) == [(ErrorCode.UNSUPPORTED_OPERATION, f"operations[0].op.{field}")]
