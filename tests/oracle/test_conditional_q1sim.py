"""Oracle: conditional playback (active reset) across two modules of one simulated cluster.

The readout (QRM, slot 2) makes a thresholded acquisition whose result goes on the trigger
network; the drive (QCM, slot 1) plays a pi pulse in a ``Conditional`` block 400 ns after the
acquisition ends. q1simulator's acquisition results are mock data: one integrated value per
repetition, chosen so that the thresholded results follow a known pattern. q1simulator then
delivers each result as a trigger to the QCM's latches, and ``set_cond`` decides.

The two modules run in one q1simulator ``Cluster`` (``q1sim_cluster.run_cluster``), which
shares the sync barrier and the trigger network between them.

Checked, against expectations from the schedule alone (``compiled.expected_iq``): the QCM
output, sample by sample, is the schedule with the block's body played in exactly the
repetitions whose result was 1 and nothing in its place otherwise, so every other pulse keeps
its nanosecond either way; the QRM reports the thresholded results of the pattern; nothing is
flagged by q1simulator (underruns, illegal instructions, mock data run out). The two tests at
the end pin a bug these tests found (a stale trigger counted after the latch reset, which now
happens when the feedback acquisition ends).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.compiler.emit import PREAMBLE_NS
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    Conditional,
    DragPulse,
    Schedule,
    ShiftClockPhase,
    SquarePulse,
    SSBIntegrationComplex,
    ThresholdedAcquisition,
    TimedOperation,
)
from tests.oracle.compiled import expected_iq, reference_envelope
from tests.oracle.q1sim import FULL_SCALE_V, ModuleRun, SeqSpec
from tests.oracle.q1sim_cluster import ModuleSpec, compiled_modules, run_cluster

pytestmark = pytest.mark.timeout(120)

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "hardware" / "default.json"
DRIVE, READOUT = 1, 2  # slots: QCM with q0:mw, QRM with q0:res
ATOL = 4 / 32768 * FULL_SCALE_V["QCM"]

MW = {"port": "q0:mw", "clock": "q0.01"}
RO = {"port": "q0:res", "clock": "q0.ro"}
CLOCKS = {"q0.01": 80e6, "q0.ro": 150e6}

ACQ_AT, ACQ_NS = 160, 900  # the feedback acquisition, schedule ns
THRESHOLD = 0.05  # in SSB-result units; the instrument compares the sum over ACQ_NS
POST_AT = 1600  # a drive pulse after every block, at a fixed time
PRE = DragPulse(**MW, amplitude=0.25, beta=0.0, duration=40)
PI = DragPulse(**MW, amplitude=0.5, beta=0.0, duration=40)
POST = SquarePulse(**MW, amplitude=0.15, duration=40)

Mode = Literal["conditional", "always", "never"]
ComplexArray = npt.NDArray[np.complex128]


def active_reset(
    mode: Mode, body: Sequence[TimedOperation], delay: int = 400, repetitions: int = 1
) -> Schedule:
    """Pre-pulse, readout with the feedback acquisition, the block ``delay`` ns after the
    acquisition, a post-pulse, a second readout. ``mode``: the block as a ``Conditional``,
    its body played unconditionally at the same times, or left out (the references)."""
    s = Schedule(name=f"active-reset-{mode}", repetitions=repetitions, clocks=CLOCKS)
    s.add(PRE, at=0)
    s.add(SquarePulse(**RO, amplitude=0.2, duration=1000), at=60)
    feedback = ThresholdedAcquisition(
        **RO, duration=ACQ_NS, threshold=THRESHOLD, bin_mode="append", feedback_trigger_label="q0"
    )
    s.add(feedback, at=ACQ_AT)
    block_at = ACQ_AT + ACQ_NS + delay
    if mode == "conditional":
        s.add(Conditional(trigger="q0", body=list(body)), at=block_at)
    elif mode == "always":
        for timed in body:
            s.add(timed.op, at=block_at + timed.start)
    s.add(POST, at=POST_AT)
    s.add(SquarePulse(**RO, amplitude=0.2, duration=1000), at=1700)
    s.add(SSBIntegrationComplex(**RO, duration=900, acq_channel=1), at=1800)
    return s


LEVEL = THRESHOLD * ACQ_NS  # the threshold as the instrument compares it: an integrated sum


def mock_results(pattern: Sequence[int], low: float = -1.0, high: float = 2.0) -> list[complex]:
    """One integrated value per repetition: ``high`` (1) or ``low`` (0) times ``LEVEL``, with
    an imaginary part (path 1) that the unrotated comparison must ignore."""
    return [complex((high if bit else low) * LEVEL, -5 * LEVEL) for bit in pattern]


def mock_data(
    pattern: Sequence[int], low: float = -1.0, high: float = 2.0
) -> dict[int, list[complex]]:
    """The feedback acquisition (channel 0) gives ``pattern``; the second readout (channel 1,
    on the same sequencer, so it sends its thresholded result too) always 0."""
    return {0: mock_results(pattern, low, high), 1: mock_results([0] * len(pattern))}


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(DEFAULT)


def run(job: CompiledJob, mocks: Mapping[int, Sequence[complex]]) -> dict[int, ModuleRun]:
    runs = run_cluster(compiled_modules(job, mock_data=mocks))
    for slot, module_run in runs.items():
        assert module_run.errors == [], f"slot {slot}: {module_run.log}"
    return runs


def expected_drive(
    body: Sequence[TimedOperation], pattern: Sequence[int], rep_ns: int, delay: int = 400
) -> ComplexArray:
    """The QCM's I + jQ: per repetition, the schedule with the body played or left out."""
    fired, quiet = (
        expected_iq(active_reset(mode, body, delay), "q0:mw", "QCM", rep_ns, rep_ns)
        for mode in ("always", "never")
    )
    return np.concatenate([fired if bit else quiet for bit in pattern])


def thresholded_bins(readout: ModuleRun, job: CompiledJob) -> list[float]:
    (spec,) = [a for a in job.acquisitions if a.acq_channel == 0]
    bins = readout.acquisitions[spec.sequencer][spec.acq_name]["acquisition"]["bins"]
    return [float(v) for v in bins["threshold"]]


def played_in(drive: ModuleRun, rep_ns: int, at: int, reps: int) -> list[int]:
    """Per repetition, 1 if the drive output holds a pi pulse at schedule time ``at``, 0 if it
    is silent there; anything else (a partial or weaker pulse) fails."""
    peak = np.abs(reference_envelope(PI)).max() * FULL_SCALE_V["QCM"] / np.sqrt(2)
    iq = np.append(drive.outputs[0] + 1j * drive.outputs[1], 0)  # silence after the end
    found = []
    for rep in range(reps):
        start = rep * rep_ns + PREAMBLE_NS + at
        window = np.abs(iq[start : start + PI.duration])
        if np.all(window == 0):
            found.append(0)
        else:
            assert window.max() == pytest.approx(peak, abs=ATOL), f"repetition {rep}"
            edges = iq[[start - 1, start + PI.duration]]
            assert np.all(edges == 0), f"repetition {rep}: more than the pi pulse"
            found.append(1)
    return found


PI_BODY = [TimedOperation(start=0, op=PI)]
PATTERNS = [((1, 0, 0, 1, 1, 0), 400), ((0, 1, 1, 0, 0, 1), 364)]  # 364: the shortest allowed


@pytest.mark.parametrize(("pattern", "delay"), PATTERNS)
def test_the_pi_pulse_plays_exactly_in_the_repetitions_that_measured_one(
    hardware: HardwareConfig, pattern: tuple[int, ...], delay: int
) -> None:
    reps = len(pattern)
    job = compile_schedule(active_reset("conditional", PI_BODY, delay, reps), hardware)
    runs = run(job, mock_data(pattern))
    rep_ns, length = job.repetition_duration_ns, job.duration_ns
    drive, readout = runs[DRIVE], runs[READOUT]

    # the readout measured the pattern, in one time frame with the drive
    assert thresholded_bins(readout, job) == list(pattern)
    offsets = [(start - PREAMBLE_NS) % rep_ns for start, _ in readout.acq_windows[0]]
    assert offsets == [ACQ_AT, 1800] * reps
    assert drive.end_times == readout.end_times == {0: length}

    # the pi pulse where the result was 1 (at its nanosecond and amplitude), silence elsewhere
    assert played_in(drive, rep_ns, ACQ_AT + ACQ_NS + delay, reps) == list(pattern)

    # and every sample as the schedule says: the other pulses at the same times either way
    expected = expected_drive(PI_BODY, pattern, rep_ns, delay)
    np.testing.assert_allclose(drive.outputs[0][:length], expected.real, atol=ATOL, rtol=0)
    np.testing.assert_allclose(drive.outputs[1][:length], expected.imag, atol=ATOL, rtol=0)
    assert not np.any(drive.outputs[0][length:])
    assert not np.any(drive.outputs[1][length:])


def test_a_virtual_z_in_the_block_turns_only_the_repetitions_that_played_it(
    hardware: HardwareConfig,
) -> None:
    """A phase shift in the body applies when the block plays (the post-pulse turns by 90°)
    and is dropped with the skipped instructions otherwise."""
    body = [
        TimedOperation(start=0, op=ShiftClockPhase(**MW, phase_shift=90)),
        TimedOperation(start=8, op=PI),
    ]
    pattern = (0, 1, 1, 0)
    job = compile_schedule(active_reset("conditional", body, repetitions=4), hardware)
    drive = run(job, mock_data(pattern))[DRIVE]
    rep_ns, length = job.repetition_duration_ns, job.duration_ns
    assert played_in(drive, rep_ns, ACQ_AT + ACQ_NS + 400 + 8, 4) == list(pattern)
    expected = expected_drive(body, pattern, rep_ns)
    np.testing.assert_allclose(drive.outputs[0][:length], expected.real, atol=ATOL, rtol=0)
    np.testing.assert_allclose(drive.outputs[1][:length], expected.imag, atol=ATOL, rtol=0)


def test_the_threshold_is_the_schedules_times_the_integration_length(
    hardware: HardwareConfig,
) -> None:
    """Integrated values 1 % either side of ``threshold * duration`` decide the block."""
    pattern = (1, 0, 1, 0)
    job = compile_schedule(active_reset("conditional", PI_BODY, repetitions=4), hardware)
    runs = run(job, mock_data(pattern, low=0.99, high=1.01))
    assert thresholded_bins(runs[READOUT], job) == list(pattern)
    rep_ns = job.repetition_duration_ns
    assert played_in(runs[DRIVE], rep_ns, ACQ_AT + ACQ_NS + 400, 4) == list(pattern)


def test_without_the_trigger_the_block_never_plays(hardware: HardwareConfig) -> None:
    """Control: the same job with the readout's trigger disabled plays no pi pulse, though
    every result is 1; so the pulses above come over the trigger network."""
    job = compile_schedule(active_reset("conditional", PI_BODY, repetitions=3), hardware)
    modules = compiled_modules(job, mock_data=mock_data((1, 1, 1)))
    silenced = [
        replace(m, parameters={0: {**m.parameters[0], "thresholded_acq_trigger_en": False}})
        if m.slot == READOUT
        else m
        for m in modules
    ]
    assert any(m.parameters.get(0, {}).get("thresholded_acq_trigger_en") for m in modules)
    runs = run_cluster(silenced)
    assert runs[DRIVE].errors == runs[READOUT].errors == []
    assert thresholded_bins(runs[READOUT], job) == [1, 1, 1]
    rep_ns = job.repetition_duration_ns
    assert played_in(runs[DRIVE], rep_ns, ACQ_AT + ACQ_NS + 400, 3) == [0, 0, 0]


def test_running_out_of_mock_data_is_flagged(hardware: HardwareConfig) -> None:
    job = compile_schedule(active_reset("conditional", PI_BODY, repetitions=3), hardware)
    runs = run_cluster(compiled_modules(job, mock_data={0: mock_results((1, 0))}))
    assert runs[READOUT].errors == ["seq0: OUT OF MOCK DATA"]


def test_the_cluster_harness_reports_rejected_uploads_and_hangs() -> None:
    done: dict[str, Any] = {"program": "wait_sync 4\nwait 96\nstop\n", "waveforms": {}}
    qrm: dict[str, Any] = {"weights": {}, "acquisitions": {}}  # a QRM sequence needs them
    runs = run_cluster(
        [ModuleSpec(1, "QCM", [SeqSpec(0, done)]), ModuleSpec(2, "QRM", [SeqSpec(0, done)])]
    )
    assert runs[1].errors == ["not run: an upload was rejected (slots [2])"]
    assert [e.split(":")[:2] for e in runs[2].errors] == [["seq0", " upload rejected"]]
    hang = {**done, "program": "wait_sync 4\nwait_sync 4\nstop\n"}  # the second sync alone
    peers = [
        ModuleSpec(1, "QCM", [SeqSpec(0, hang)]),
        ModuleSpec(2, "QRM", [SeqSpec(0, done | qrm)]),
    ]
    with pytest.raises(TimeoutError, match="module1_sequencer0"):
        run_cluster(peers, timeout_s=0.3)


def test_the_cluster_harness_refuses_malformed_requests() -> None:
    with pytest.raises(ValueError, match="distinct"):
        run_cluster([ModuleSpec(1, "QCM", []), ModuleSpec(1, "QRM", [])])
    with pytest.raises(ValueError, match="mock acquisition data on a QCM"):
        run_cluster([ModuleSpec(1, "QCM", [], mock_data={0: {"0": [1.0]}})])


# --- stale triggers (a bug these tests found, fixed in the compiler) ---------------------------
# A sequencer with thresholded_acq_trigger_en sends the result of EVERY acquire on the trigger
# network (the setting is per sequencer; q1simulator models it so), 250 ns (q1simulator; up to
# TRIGGER_LATENCY_NS on hardware) after the acquisition ends. The drive reset its latches when
# the feedback acquisition started, so a trigger sent by an earlier acquisition could be counted
# after the reset. Now the reset comes when the feedback acquisition ends, and the compiler
# requires the acquisitions of that sequencer to end TRIGGER_LATENCY_NS apart.


def test_a_readout_at_the_end_of_a_repetition_does_not_fire_the_next_block(
    hardware: HardwareConfig,
) -> None:
    """The second readout (channel 1) ends with the repetition and measures 1;
    the feedback acquisitions all measure 0. Expected: no pi pulse (it used to be [0, 1, 1], the
    trigger of repetition k's second readout reaching repetition k + 1's block)."""
    job = compile_schedule(active_reset("conditional", PI_BODY, repetitions=3), hardware)
    runs = run(job, {0: mock_results((0, 0, 0)), 1: mock_results((1, 1, 1))})
    rep_ns = job.repetition_duration_ns
    assert played_in(runs[DRIVE], rep_ns, ACQ_AT + ACQ_NS + 400, 3) == [0, 0, 0]


def test_the_block_follows_the_latest_of_two_close_feedback_acquisitions(
    hardware: HardwareConfig,
) -> None:
    """Two acquisitions with one label, 100 ns apart; the block follows the second. Results
    1 then 0 in every repetition. Expected: no pi pulse (the latest result is 0); it used to
    play, the first acquisition's trigger arriving after the reset."""
    s = Schedule(name="two-feedback-acquisitions", repetitions=2, clocks=CLOCKS)
    for channel, at in ((0, 100), (1, 1100)):
        s.add(
            ThresholdedAcquisition(
                **RO,
                duration=ACQ_NS,
                threshold=THRESHOLD,
                acq_channel=channel,
                bin_mode="append",
                feedback_trigger_label="q0",
            ),
            at=at,
        )
    s.add(Conditional(trigger="q0", body=PI_BODY), at=1100 + ACQ_NS + 400)
    job = compile_schedule(s, hardware)
    runs = run(job, {0: mock_results((1, 1)), 1: mock_results((0, 0))})
    rep_ns = job.repetition_duration_ns
    assert played_in(runs[DRIVE], rep_ns, 1100 + ACQ_NS + 400, 2) == [0, 0]
