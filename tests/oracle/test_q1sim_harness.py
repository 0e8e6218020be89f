"""The q1simulator harness itself: known programs give known samples at known nanoseconds.

These tests pin q1simulator's conventions that the oracle tests rely on: time origin (end of
``wait_sync``), units (volts, QCM full scale 2.5 V), NCO sign (``Q = +A sin``) and the 1/sqrt(2)
modulation factor, phase units (1e9 steps per turn), routing and summing, markers, acquisition
windows, error flags and the hang guard.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from tests.oracle.q1sim import FloatArray, SeqSpec, run_module
from tests.unit.test_q1asm import TYPICAL

LSB_QCM = 2.5 / 2**15  # one DAC step in volts


def sequence(program: str, *waves: list[float], qrm: bool = False) -> dict[str, Any]:
    seq: dict[str, Any] = {
        "waveforms": {f"w{i}": {"data": w, "index": i} for i, w in enumerate(waves)},
        "program": program,
    }
    if qrm:
        seq |= {"weights": {}, "acquisitions": {"acq": {"num_bins": 4, "index": 0}}}
    return seq


def expected_scale(level: float, full_scale: float = 2.5) -> float:
    """What q1simulator makes of a sample at unit gain: 16-bit data times gain 32767/32768."""
    return int(level * 2**15) * 32767 / 2**15 / 2**15 * full_scale


PULSE = """\
        wait_sync 4
        reset_ph
        set_ph {phase}
        upd_param 4         # t = 0: phase reset, then the phase set
        wait 96
        play 0, 1, 40       # t = 100 .. 139
        wait 60
        stop
"""


@pytest.mark.parametrize(("phase_steps", "phase_rad"), [(0, 0.0), (250_000_000, np.pi / 2)])
def test_nco_pulse_lands_on_expected_samples(phase_steps: int, phase_rad: float) -> None:
    seq = sequence(PULSE.format(phase=phase_steps), [0.5] * 40, [0.0] * 40)
    run = run_module("QCM", [SeqSpec(0, seq, nco_freq=10e6, mod_en_awg=True)])
    assert run.errors == []
    assert run.end_times == {0: 200}
    i_out, q_out = run.outputs[0], run.outputs[1]
    assert len(i_out) == 200
    t = np.arange(100, 140)
    amplitude = expected_scale(0.5) / np.sqrt(2)
    phi = 2 * np.pi * 10e6 * t * 1e-9 + phase_rad
    np.testing.assert_allclose(i_out[100:140], amplitude * np.cos(phi), atol=3 * LSB_QCM)
    np.testing.assert_allclose(q_out[100:140], amplitude * np.sin(phi), atol=3 * LSB_QCM)
    assert not i_out[:100].any()
    assert not i_out[140:].any()
    assert not q_out[:100].any()
    assert not q_out[140:].any()
    assert set(run.paths[0]) == {0, 1}


def test_unmodulated_paths_are_scaled_waveforms() -> None:
    program = "wait_sync 4\nplay 0, 1, 8\nset_awg_gain 16384, -32768\nplay 0, 1, 8\nstop"
    seq = sequence(program, [0.5] * 8, [-0.25] * 8)
    run = run_module("QCM", [SeqSpec(0, seq)])
    assert run.errors == []
    np.testing.assert_allclose(
        run.outputs[0], [expected_scale(0.5)] * 8 + [0.625] * 8, atol=2 * LSB_QCM
    )
    np.testing.assert_allclose(
        run.outputs[1], [expected_scale(-0.25)] * 8 + [0.625] * 8, atol=2 * LSB_QCM
    )
    assert run.full_scale_v == 2.5


def test_two_sequencers_on_one_output_are_summed() -> None:
    first = sequence("wait_sync 4\nwait 20\nplay 0, 1, 40\nwait 40\nstop", [0.3] * 40, [0.1] * 40)
    second = sequence("wait_sync 4\nwait 40\nplay 0, 0, 60\nstop", [0.2] * 60)
    run = run_module(
        "QCM",
        [SeqSpec(0, first, connect_out={0: "I", 2: "Q"}), SeqSpec(3, second, connect_out={0: "I"})],
    )
    assert run.errors == []
    expected = np.zeros(100)
    expected[20:60] += expected_scale(0.3)
    expected[40:100] += expected_scale(0.2)
    np.testing.assert_allclose(run.outputs[0], expected, atol=2 * LSB_QCM)
    q_path = np.zeros(100)
    q_path[20:60] = expected_scale(0.1)
    np.testing.assert_allclose(run.outputs[2], q_path, atol=LSB_QCM)
    assert not run.outputs[1].any()
    assert not run.outputs[3].any()
    assert set(run.paths) == {0, 3}
    assert set(run.paths[3]) == {0}


def test_markers_per_sequencer_and_ored_per_module() -> None:
    first = sequence("wait_sync 4\nset_mrk 5\nupd_param 10\nset_mrk 0\nupd_param 10\nstop")
    second = sequence("wait_sync 4\nwait 5\nset_mrk 1\nupd_param 10\nset_mrk 0\nupd_param 4\nstop")
    run = run_module("QCM", [SeqSpec(0, first), SeqSpec(1, second)])
    assert run.errors == []
    assert np.flatnonzero(run.markers[0][0]).tolist() == list(range(10))
    assert np.flatnonzero(run.markers[0][2]).tolist() == list(range(10))
    assert np.flatnonzero(run.markers[1][0]).tolist() == list(range(5, 15))
    assert np.flatnonzero(run.marker_outputs[0]).tolist() == list(range(15))
    assert set(run.marker_outputs) == {0, 2}


def test_acquisition_windows_and_integration() -> None:
    program = "wait_sync 4\nplay 0, 0, 100\nacquire 0, 0, 400\nacquire 0, 1, 400\nstop"
    seq = sequence(program, [0.4] * 1000, qrm=True)
    run = run_module("QRM", [SeqSpec(0, seq, integration_length_acq=300)])
    assert run.errors == []
    assert run.acq_windows == {0: [(100, 400), (500, 800)]}
    path0: FloatArray = run.outputs[0]
    start, stop = run.acq_windows[0][0]
    assert path0[start:stop].mean() == pytest.approx(expected_scale(0.4, 0.5), abs=1e-4)
    assert run.acquisitions[0]["acq"]["acquisition"]["bins"]["avg_cnt"].tolist() == [1, 1, 0, 0]


def test_the_typical_compiled_program_runs_clean() -> None:
    seq = sequence(TYPICAL, [0.1] * 20, [0.0] * 20, qrm=True)
    run = run_module("QRM", [SeqSpec(0, seq, integration_length_acq=1000)])
    assert run.errors == []
    assert len(run.acq_windows[0]) == 1024
    assert run.end_times[0] == 1024 * (4 + 20 + 1000 + 100)


@pytest.mark.parametrize(
    ("program", "flag"),
    [
        ("wait_sync 4\nwait 2\nstop", "seq0: WAIT TIME < 4 ns"),
        ("wait_sync 4\nwait 100", "seq0: SEQUENCE PROCESSOR Q1 ILLEGAL INSTRUCTION"),
        ("wait_sync 4\nmove 1, R1\nadd R1, 1, R1\nstop", "seq0: UNKNOWN"),
        ("wait 100\nstop", "seq0: no wait_sync, so q1simulator rendered nothing"),
    ],
)
def test_problems_are_reported(program: str, flag: str) -> None:
    run = run_module("QCM", [SeqSpec(0, sequence(program))])
    assert flag in run.errors


def test_rejected_upload_is_reported_without_running() -> None:
    run = run_module("QRM", [SeqSpec(0, {"waveforms": {}, "program": "wait_sync 4\nstop"})])
    assert [e.split(":")[:2] for e in run.errors] == [["seq0", " upload rejected"]]
    assert run.paths == {}


def test_a_peer_that_never_syncs_times_out_and_leaves_no_thread() -> None:
    waits = sequence("wait_sync 4\nstop")
    never_syncs = sequence("wait 100\nstop")
    with pytest.raises(TimeoutError, match="wait_sync"):
        run_module("QCM", [SeqSpec(0, waits), SeqSpec(1, never_syncs)], timeout_s=1.0)
    assert not [t for t in threading.enumerate() if "q1sim_" in t.name]


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="no output"):
        run_module("QRM", [SeqSpec(0, sequence("stop"), connect_out={2: "I"})])
    with pytest.raises(ValueError, match="distinct"):
        run_module("QCM", [SeqSpec(0, sequence("stop")), SeqSpec(0, sequence("stop"))])
