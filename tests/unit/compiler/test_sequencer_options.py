"""Sequencer options of the hardware config (static AWG path offsets and gains) and
``real_mode_en``: the compiled settings, their ranges, the driver's dummy cluster accepting them
in the compiled order, and q1simulator playing the offsets."""

from __future__ import annotations

import uuid
import warnings
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.compiler.settings import awg_path_settings, off_settings
from qconductor.protocol.compiled import CompiledJob, SequencerSettings
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, ModuleType, load_hardware_config
from qconductor.protocol.schedule import GaussPulse, Schedule, SquarePulse, SSBIntegrationComplex
from tests.oracle.compiled import expected_iq, run_compiled
from tests.oracle.q1sim import FULL_SCALE_V
from tests.unit.compiler.rf_cases import TRANSMON, baseband, sched, seq, square, transmon_raw

AWG_PATH = ("offset_awg_path0", "offset_awg_path1", "gain_awg_path0", "gain_awg_path1")
NEUTRAL = dict(zip(AWG_PATH, (0.0, 0.0, 1.0, 1.0), strict=True))


@pytest.fixture(scope="module")
def transmon() -> HardwareConfig:
    return load_hardware_config(TRANSMON)


def awg_paths(settings: SequencerSettings) -> dict[str, float]:
    return {k: getattr(settings, k) for k in AWG_PATH}


def all_sequencers(job: CompiledJob) -> list[tuple[ModuleType, Any]]:
    return [(m.module_type, s) for c in job.clusters for m in c.modules for s in m.sequencers]


# --- offsets and gains ------------------------------------------------------------------------


def test_transmon_full_sequencer_options_become_awg_path_settings(
    transmon: HardwareConfig,
) -> None:
    # q0:res-q0.ro: init_gain_awg_path_I 0.9 (QRM); q1:mw-q1.01: offsets 0.01 / -0.01 (QCM-RF)
    job = compile_schedule(
        sched(
            (square("q0:res", "q0.ro"), 0),
            (square("q1:mw", "q1.01"), 0),
            (square("q0:mw", "q0.01"), 0),
        ),
        transmon,
    )
    readout = seq(job, "q0:res").settings
    assert awg_paths(readout) == {**NEUTRAL, "gain_awg_path0": 0.9}
    drive = seq(job, "q1:mw").settings
    assert awg_paths(drive) == {**NEUTRAL, "offset_awg_path0": 0.01, "offset_awg_path1": -0.01}
    assert awg_paths(seq(job, "q0:mw").settings) == NEUTRAL  # no sequencer_options entry
    # sent to the driver (not left out as None)
    assert {k: readout.parameters()[k] for k in AWG_PATH} == awg_paths(readout)
    # every other sequencer is explicitly neutral, so nothing leaks from a previous job
    for _, other in all_sequencers(job):
        if other.port not in ("q0:res", "q1:mw"):
            assert awg_paths(other.settings) == NEUTRAL


def test_options_apply_to_an_acquisition_only_sequencer(transmon: HardwareConfig) -> None:
    acq = SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=400, acq_channel=0)
    job = compile_schedule(sched((acq, 0)), transmon)
    assert seq(job, "q0:res").settings.gain_awg_path0 == 0.9  # as the reference: per sequencer


def test_awg_path_settings_without_options() -> None:
    assert awg_path_settings(None) == {}
    assert awg_paths(off_settings("QCM")) == NEUTRAL


def test_all_four_options_map_i_to_path0_and_q_to_path1() -> None:
    options = {"init_offset_awg_path_I": -0.25, "init_offset_awg_path_Q": 0.5}
    options |= {"init_gain_awg_path_I": -1.0, "init_gain_awg_path_Q": 0.3}
    hardware = baseband(
        {1: "QCM"},
        [["cluster0.module1.complex_output_0", "q0:mw"]],
        sequencer_options={"q0:mw-q0.01": options},
    )
    s = Schedule(name="t", clocks={"q0.01": 100e6})
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=40))
    job = compile_schedule(s, hardware)
    assert awg_paths(seq(job, "q0:mw").settings) == {
        "offset_awg_path0": -0.25,
        "offset_awg_path1": 0.5,
        "gain_awg_path0": -1.0,
        "gain_awg_path1": 0.3,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("init_offset_awg_path_I", 1.5),
        ("init_offset_awg_path_Q", -1.01),
        ("init_gain_awg_path_I", 2.0),
        ("init_gain_awg_path_Q", -3.0),
    ],
)
def test_out_of_range_options_are_reported_with_their_path(field: str, value: float) -> None:
    raw = transmon_raw()
    raw["hardware_options"]["sequencer_options"]["q1:mw-q1.01"][field] = value
    with pytest.raises(QconductorError) as info:
        load_hardware_config(raw)
    found = [(d.code, d.path) for d in info.value.details if d.severity == "error"]
    path = f"hardware_options.sequencer_options.q1:mw-q1.01.{field}"
    assert found == [(ErrorCode.CONFIG_BAD_VALUE, path)]
    (detail,) = info.value.details
    assert "out of range" in detail.message
    assert detail.hint == "valid: -1 to 1"


@pytest.mark.parametrize("field", AWG_PATH)
def test_compiled_settings_keep_the_driver_ranges(field: str) -> None:
    SequencerSettings.model_validate({"sync_en": True, field: -1.0})
    SequencerSettings.model_validate({"sync_en": True, field: 1.0})
    with pytest.raises(ValidationError):
        SequencerSettings.model_validate({"sync_en": True, field: 1.0001})


# --- real_mode_en -----------------------------------------------------------------------------


def test_real_mode_stays_off_on_real_and_complex_outputs() -> None:
    hardware = baseband(
        {1: "QCM", 2: "QRM"},
        [
            ["cluster0.module1.real_output_1", "q0:fl"],
            ["cluster0.module1.complex_output_1", "q0:mw"],
            ["cluster0.module2.real_output_0", "q1:fl"],
        ],
    )
    s = Schedule(name="t", clocks={"q0.fl": 40e6, "q0.01": 100e6, "q1.fl": 0.0})
    s.add(SquarePulse(port="q0:fl", clock="q0.fl", amplitude=0.5, duration=40))
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=40))
    s.add(SquarePulse(port="q1:fl", clock="q1.fl", amplitude=0.5, duration=40))
    job = compile_schedule(s, hardware)
    for port in ("q0:fl", "q0:mw", "q1:fl"):
        settings = seq(job, port).settings
        assert settings.real_mode_en is False
        assert settings.parameters()["real_mode_en"] is False
    assert seq(job, "q0:fl").settings.connect_out1 == "I"  # real output: path 0 only
    unused = [s for _, s in all_sequencers(job) if s.sequence is None]
    assert len(unused) == 9
    assert all(s.settings.real_mode_en is False for s in unused)


def test_rf_modules_have_no_real_mode(transmon: HardwareConfig) -> None:
    job = compile_schedule(sched((square("q1:mw", "q1.01"), 0)), transmon)
    for module_type, sequencer in all_sequencers(job):
        rf = module_type.endswith("_RF")
        assert sequencer.settings.real_mode_en is (None if rf else False), module_type
        assert ("real_mode_en" in sequencer.settings.parameters()) is not rf
    assert off_settings("QRM_RF").real_mode_en is None
    assert off_settings("QRM").real_mode_en is False


def test_real_mode_is_set_before_mixer_corrections_and_routes() -> None:
    """While real_mode_en is True the driver refuses a "Q" route and non-neutral mixer
    corrections, so the compiled order must clear it first."""
    names = list(off_settings("QCM").parameters())
    first_dependent = min(
        names.index(n) for n in names if n.startswith(("mixer_corr_", "connect_out"))
    )
    assert names.index("real_mode_en") < first_dependent


def test_dummy_cluster_accepts_the_compiled_settings_after_a_leftover_real_mode() -> None:
    qblox_instruments = pytest.importorskip("qblox_instruments")
    hardware = baseband(
        {1: "QCM", 2: "QRM"},
        [
            ["cluster0.module1.complex_output_1", "q0:mw"],
            ["cluster0.module2.real_output_1", "q1:fl"],
        ],
        mixer_corrections={"q0:mw-q0.01": {"amp_ratio": 1.2, "phase_error": 10.0}},
        sequencer_options={"q0:mw-q0.01": {"init_offset_awg_path_Q": -0.3}},
    )
    s = Schedule(name="t", clocks={"q0.01": 100e6, "q1.fl": 20e6})
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=40))
    s.add(SquarePulse(port="q1:fl", clock="q1.fl", amplitude=0.5, duration=40))
    job = compile_schedule(s, hardware)
    types = qblox_instruments.ClusterType
    cluster = qblox_instruments.Cluster(
        f"seqopts_{uuid.uuid4().hex[:8]}",
        dummy_cfg={1: types.CLUSTER_QCM, 2: types.CLUSTER_QRM},
    )
    try:
        for module in job.clusters[0].modules:
            for sequencer in module.sequencers:
                target = cluster.modules[module.slot - 1].sequencers[sequencer.index]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the driver warns about what it resets
                    target.real_mode_en(True)  # left by another client
                for name, value in sequencer.settings.parameters().items():
                    target.parameters[name].set(value)
                assert target.real_mode_en() is False
        drive = cluster.modules[0].sequencers[seq(job, "q0:mw").index]
        assert (drive.connect_out2(), drive.connect_out3()) == ("I", "Q")
        assert drive.mixer_corr_gain_ratio() == pytest.approx(1.2)
        assert drive.offset_awg_path1() == pytest.approx(-0.3)
    finally:
        cluster.close()


# --- q1simulator --------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_q1simulator_plays_the_static_offsets() -> None:
    """The static offsets add to every sample of the path, from the first one on (q1simulator
    honours ``offset_awg_path``). The NCO runs at 0 Hz here, so its carrier is 1 and only the
    modulation's 1/sqrt(2) scales the offset. Gains are not checked: q1simulator treats
    ``gain_awg_path`` as the initial ``set_awg_gain``, which the program's own gains replace,
    while the instrument multiplies the two."""
    offset = complex(0.1, -0.2)
    hardware = baseband(
        {1: "QCM"},
        [["cluster0.module1.complex_output_0", "q0:fl"]],
        sequencer_options={
            "q0:fl-cl0.baseband": {
                "init_offset_awg_path_I": offset.real,
                "init_offset_awg_path_Q": offset.imag,
            }
        },
    )
    s = Schedule(name="offsets", repetitions=2, clocks={"cl0.baseband": 0.0})
    s.add(SquarePulse(port="q0:fl", clock="cl0.baseband", amplitude=0.5, duration=100), at=20)
    s.add(GaussPulse(port="q0:fl", clock="cl0.baseband", amplitude=0.3, duration=40), at=200)
    job = compile_schedule(s, hardware)
    result = run_compiled(job, slot=1)
    assert result.errors == []
    rep_ns, fs = job.repetition_duration_ns, FULL_SCALE_V["QCM"]
    length = rep_ns * job.repetitions
    expected = expected_iq(s, "q0:fl", "QCM", length, rep_ns) + offset * fs / np.sqrt(2)
    atol = 4 / 32768 * fs
    np.testing.assert_allclose(result.outputs[0][:length], expected.real, atol=atol, rtol=0)
    np.testing.assert_allclose(result.outputs[1][:length], expected.imag, atol=atol, rtol=0)
