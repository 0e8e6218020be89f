"""Feedback many times per repetition in the simulated lab: active reset inside real-time loops,
repeated reset rounds, a qubit driven by the history of another's decisions, and what is still
refused. Also the interpreter folding the loops of conditional sequencers, and the propagators
the lab follows every shot with.

Default hardware and lab as in :mod:`tests.unit.virtual.test_feedback`: q0 driven on resonance
(a 40 ns DRAG of amplitude ``A`` rotates it by ``2 pi A``), r0 probed on resonance, a
thresholded readout at probe ``p`` misassigning a shot with probability ``assignment_error(p)``
(4.3 % at 0.25). In the lab without decoherence (IDEAL) a conditional pi pulse leaves a qubit
excited exactly when the decision was wrong: after a reset round the excited probability is that
round's assignment error, whatever it was before, which gives the closed forms below.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Collection

import numpy as np
import numpy.typing as npt
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.virtual.interpreter import TriggerSource, interpret_sequencer
from qconductor.adapters.virtual.lab import Lab
from qconductor.adapters.virtual.physics import (
    EXCITED,
    DrivePulse,
    PropagatorCache,
    evolve,
    propagator,
)
from qconductor.adapters.virtual.trace import Repeat
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    Conditional,
    DragPulse,
    Idle,
    LoopBuilder,
    OpRef,
    Schedule,
    ShiftClockPhase,
    SquarePulse,
    SSBIntegrationComplex,
    TimedOperation,
    linspace,
)
from tests.unit.virtual.test_feedback import (
    CLOCKS,
    IDEAL,
    LAB,
    NOISELESS,
    RELAX,
    ROOT,
    Mode,
    _patched,
    _sequencer,
    assignment_error,
    decide,
    excited,
    mw,
    pi,
    res,
    run,
    two_qubit_reset_schedule,
)

FloatArray = npt.NDArray[np.float64]
AMPLITUDES = np.linspace(0.0, 1.0, 21)  # a full Rabi turn: pi at 0.5, 2 pi at 1.0
EPS = assignment_error(0.25)


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(json.loads((ROOT / "config/hardware/default.json").read_text()))


def assigned(p1: npt.ArrayLike, eps: float = EPS) -> FloatArray:
    """The fraction of shots read as 1 when ``p1`` of them are in |1>."""
    p = np.asarray(p1, dtype=np.float64)
    return np.asarray(p * (1 - eps) + (1 - p) * eps)


def measure(
    body: Schedule | LoopBuilder,
    channel: int,
    *,
    probe: float = 0.25,
    label: str | None = None,
    mode: Mode = "average",
) -> OpRef:
    """A readout of q0 20 ns after the last operation: thresholded, or SSB for ``probe`` 1."""
    ro = body.add(SquarePulse(**res(0), amplitude=probe, duration=1000), delay=20)
    if probe == 1.0:
        acq = SSBIntegrationComplex(**res(0), duration=900, acq_channel=channel, bin_mode=mode)
        return body.add(acq, ref=ro, ref_pt="start", delay=100)
    found = decide(0, probe, acq_channel=channel, bin_mode=mode, feedback_trigger_label=label)
    return body.add(found, ref=ro, ref_pt="start", delay=100)


def reset(body: Schedule | LoopBuilder, acq: OpRef, q: int = 0) -> None:
    """A pi pulse on ``q`` when the feedback acquisition ``acq`` (on q0) read 1."""
    body.add(
        Conditional(trigger="q0", body=[TimedOperation(start=0, op=pi(q))]), ref=acq, delay=400
    )


def swept_reset(repetitions: int = 1024, amplitudes: FloatArray = AMPLITUDES) -> Schedule:
    """A Rabi sweep in a real-time loop; each point measured with feedback (channel 0), reset,
    and measured again (channel 1). One repetition holds every point: a point starts where the
    previous one's reset left the qubit."""
    s = Schedule(name="swept-reset", repetitions=repetitions, clocks=CLOCKS)
    s.add(Idle(duration=RELAX))
    first, last = float(amplitudes[0]), float(amplitudes[-1])
    with s.loop(amp=linspace(first, last, len(amplitudes))) as body:
        body.add(DragPulse(**mw(0), amplitude=body["amp"], beta=0.0, duration=40))
        reset(body, measure(body, 0, label="q0"))
        measure(body, 1)
        body.add(Idle(duration=1000))
    return s


def test_active_reset_in_a_swept_loop(hardware: HardwareConfig) -> None:
    """The excited fraction before the reset follows the Rabi oscillation, after it stays low
    at every point (default lab: assignment errors, and decay while the decision is made)."""
    data = run(swept_reset(), hardware)
    before, after = data[0], data[1]
    assert before.shape == after.shape == (len(AMPLITUDES),)
    rabi = np.sin(np.pi * AMPLITUDES) ** 2
    print(f"\nbefore the reset {np.round(before, 2)}\nafter it {np.round(after, 2)}")
    assert np.corrcoef(before, rabi)[0, 1] > 0.98
    assert before.max() > 0.8
    assert before.min() < 0.1
    assert after.max() < 0.16
    assert after.mean() < 0.12


def test_swept_reset_matches_the_closed_form(hardware: HardwareConfig) -> None:
    """Without decoherence: point ``i`` starts excited with probability 0 (the first) or the
    assignment error (the residue of the previous reset), so before its reset
    ``q cos^2(pi A) + (1 - q) sin^2(pi A)`` is excited, after it the assignment error."""
    before, after = (run(swept_reset(), hardware, IDEAL)[k] for k in (0, 1))
    q = np.full(len(AMPLITUDES), EPS)
    q[0] = 0.0
    rabi = np.sin(np.pi * AMPLITUDES) ** 2
    want_before = assigned(q * (1 - rabi) + (1 - q) * rabi)
    want_after = assigned(np.full(len(AMPLITUDES), EPS))
    sigma = np.sqrt(want_before * (1 - want_before) / 1024)
    np.testing.assert_allclose(before, want_before, atol=0.005 + 4 * sigma.max())
    np.testing.assert_allclose(after, want_after, atol=0.005 + 4 * math.sqrt(0.1 * 0.9 / 1024))
    assert abs(np.mean(before - want_before)) < 0.01
    assert abs(np.mean(after - want_after)) < 0.01


def test_swept_reset_without_noise_resets_every_shot(hardware: HardwareConfig) -> None:
    """No noise, no decay: each point's feedback readout sees exactly the Rabi rotation of
    |0> (every earlier point was reset to |0>), and nothing is left after any reset."""
    s = swept_reset(repetitions=256)
    before, after = (run(s, hardware, NOISELESS)[k] for k in (0, 1))
    rabi = np.sin(np.pi * AMPLITUDES) ** 2
    np.testing.assert_allclose(before, rabi, atol=4 * math.sqrt(0.25 / 256))
    assert not after.any()


def test_a_swept_reset_is_deterministic_for_a_seed(hardware: HardwareConfig) -> None:
    job = compile_schedule(swept_reset(repetitions=128), hardware)
    first, again = run(job, hardware), run(job, hardware)
    other = run(job, hardware, LAB.model_copy(update={"seed": LAB.seed + 1}))
    for channel in (0, 1):
        np.testing.assert_array_equal(first[channel], again[channel])
    assert not np.array_equal(first[0], other[0])


def rounds(count: int, lab: Lab, hardware: HardwareConfig, shots: int = 2048) -> float:
    """q0 excited, then two feedback readouts 1460 ns apart, the first ``count`` of them
    followed 1300 ns after their start by a pi pulse if they read 1 (the others by as long an
    idle); the excited fraction a strong readout 1460 ns after the last sees (SSB at probe 1:
    no misassignment)."""
    s = Schedule(name="reset-rounds", repetitions=shots, clocks=CLOCKS)
    s.add(Idle(duration=RELAX))
    s.add(pi(0))
    for k in range(2):
        acq = measure(s, k, label="q0")
        if k < count:
            reset(s, acq)
        else:
            s.add(Idle(duration=40), ref=acq, delay=400)
    measure(s, 2, probe=1.0, mode="append")
    return float(excited(run(s, hardware, lab)[2][:, 0], 0, 1.0).mean())


def after_round(p: float, lab: Lab) -> float:
    """The excited probability when a reset round's pi pulse ends, from ``p`` at its readout:
    flipped when read 1 (right, or wrongly from |0>), left when read 0, and decay over the
    1300 ns until the pulse."""
    kept = math.exp(-1300e-9 / lab.qubits["q0"].t1)
    return p * (1 - EPS) * (1 - kept) + p * EPS * kept + (1 - p) * EPS


def test_a_second_reset_round_improves_on_the_first(hardware: HardwareConfig) -> None:
    """Decay while the decision is made leaves some of the excited shots flipped up again;
    a second round starts from far fewer excited shots, so it leaves fewer (closed form from
    the assignment error and T1). Without decay each round leaves exactly its assignment error
    (a symmetric one: a second round cannot do better), and without noise nothing."""

    def decay(ns: float) -> float:
        return math.exp(-ns * 1e-9 / LAB.qubits["q0"].t1)

    first = after_round(decay(120), LAB)  # the prep pulse ends 120 ns before the readout
    want_one = first * decay(2920 - 1300)
    want_two = after_round(first * decay(160), LAB) * decay(160)
    one, two = rounds(1, LAB, hardware), rounds(2, LAB, hardware)
    print(f"\nexcited after one round {one:.3f} ({want_one:.3f}), two {two:.3f} ({want_two:.3f})")
    for got, want in ((one, want_one), (two, want_two)):
        assert got == pytest.approx(want, abs=0.003 + 4 * math.sqrt(want * (1 - want) / 2048))
    assert two < one - 0.02
    for count in (1, 2):
        assert rounds(count, IDEAL, hardware) == pytest.approx(EPS, abs=0.02)
        assert rounds(count, NOISELESS, hardware, shots=256) == 0.0


def test_a_qubit_driven_by_the_history_of_anothers_decisions(hardware: HardwareConfig) -> None:
    """q0 is put in superposition and measured with feedback four times; each 1 flips q1. q1
    ends excited exactly in the shots with an odd number of ones: its state depends on every
    decision of the repetition, not only the latest (noiseless lab: exact per shot)."""
    s = Schedule(name="parity", repetitions=512, clocks=CLOCKS)
    s.add(Idle(duration=RELAX))
    with s.loop(count=4) as body:
        body.add(pi(0, 0.5))
        reset(body, measure(body, 0, label="q0", mode="append"), q=1)
        body.add(Idle(duration=100))
    ro = s.add(SquarePulse(**res(1), amplitude=0.25, duration=1000), delay=20)
    s.add(decide(1, 0.25, acq_channel=1, bin_mode="append"), ref=ro, ref_pt="start", delay=100)
    data = run(s, hardware, NOISELESS)
    decisions, q1 = data[0] == 1, data[1][:, 0] == 1
    assert decisions.shape == (512, 4)
    assert 0.4 < decisions.mean() < 0.6  # each readout: a fresh projection of a pi/2 rotation
    np.testing.assert_array_equal(q1, decisions.sum(axis=1) % 2 == 1)


def test_one_trigger_address_for_two_qubits_latches_either(hardware: HardwareConfig) -> None:
    """q0 excited, q1 not, measured at once with feedback, each followed by a conditional pi:
    on one trigger address the latches see a 1 from either readout, so q1 is flipped too."""
    schedule = two_qubit_reset_schedule("shared-address", 256, excite_q1=False)
    job = compile_schedule(schedule, hardware)
    apart = _patched(job, {"q1:res": {"thresholded_acq_trigger_address": 2}}, masks={"q1:mw": 2})
    shared = _patched(job, {"q1:res": {"thresholded_acq_trigger_address": 1}}, masks={"q1:mw": 1})
    apart_data, shared_data = run(apart, hardware, NOISELESS), run(shared, hardware, NOISELESS)
    for data in (apart_data, shared_data):
        assert data[0][0] == 1.0  # q0 read excited in every shot
        assert data[1][0] == 0.0
        assert data[2][0] == 0.0  # and reset
    assert apart_data[3][0] == 0.0  # q1 only hears its own readout
    assert shared_data[3][0] == 1.0  # q1 flipped by q0's trigger on the shared address


def conditional_phase_in_a_loop(hardware: HardwareConfig) -> CompiledJob:
    """Active reset in a loop whose conditional block also shifts the NCO phase: every later
    pulse then depends on how many resets came before, not only on the latest decision."""
    block = [
        TimedOperation(start=0, op=pi(0)),
        TimedOperation(start=40, op=ShiftClockPhase(**mw(0), phase_shift=90)),
    ]
    s = Schedule(name="reset-with-phase", repetitions=64, clocks=CLOCKS)
    s.add(Idle(duration=RELAX))
    with s.loop(amp=linspace(0.0, 0.5, 3)) as body:
        body.add(DragPulse(**mw(0), amplitude=body["amp"], beta=0.0, duration=40))
        acq = measure(body, 0, label="q0")
        body.add(Conditional(trigger="q0", body=block), ref=acq, delay=400)
        body.add(Idle(duration=1000))
    return compile_schedule(s, hardware)


def test_what_is_still_refused(hardware: HardwareConfig) -> None:
    """A conditional block whose NCO phase change outlasts it (more than the latest decision),
    and a sequencer that plays conditionally and also acquires."""
    job = conditional_phase_in_a_loop(hardware)
    with pytest.raises(QconductorError) as info:
        run(job, hardware)
    assert info.value.code == ErrorCode.UNSUPPORTED_OPERATION
    assert "depends on earlier feedback decisions" in info.value.message
    assert info.value.path is not None
    assert "modules[1].sequencers[0]" in info.value.path

    def listen_on_the_readout(port: str, program: str) -> str:
        if port != "q0:res":
            return program
        return program.replace("wait_sync 4", "wait_sync 4\n            set_cond 0, 1, 0, 4", 1)

    s = swept_reset(repetitions=16, amplitudes=np.array([0.0, 0.5]))
    edited = _patched(compile_schedule(s, hardware), edit=listen_on_the_readout)
    with pytest.raises(QconductorError) as info:
        run(edited, hardware)
    assert info.value.code == ErrorCode.UNSUPPORTED_OPERATION
    assert "plays conditionally and also acquires" in info.value.message


def test_a_conditional_phase_with_one_feedback_measurement_is_modelled(
    hardware: HardwareConfig,
) -> None:
    """With a single feedback measurement the two branches are exact: a phase shift in the
    block is fine (nothing after it depends on an older decision)."""
    s = Schedule(name="reset-with-phase", repetitions=256, clocks=CLOCKS)
    s.add(Idle(duration=RELAX))
    s.add(pi(0))
    acq = measure(s, 0, label="q0")
    block = [
        TimedOperation(start=0, op=pi(0)),
        TimedOperation(start=40, op=ShiftClockPhase(**mw(0), phase_shift=90)),
    ]
    s.add(Conditional(trigger="q0", body=block), ref=acq, delay=400)
    measure(s, 1)
    data = run(s, hardware, NOISELESS)
    assert data[0][0] == 1.0
    assert data[1][0] == 0.0


# --- the machinery ------------------------------------------------------------------------


def test_the_conditional_sequencer_folds_every_repetition(hardware: HardwareConfig) -> None:
    """A conditional sequencer's loops fold when the triggers it latches repeat: without
    triggers (the full run, every repetition) and with one in every iteration; a trigger that
    stops coming after some iterations folds up to there. The events are the same as the
    run without folding."""
    job = compile_schedule(swept_reset(repetitions=1024, amplitudes=AMPLITUDES[:5]), hardware)
    conditional = _sequencer(job, "q0:mw")
    windows: list[tuple[int, int]] = []

    def record(start: int, stop: int) -> Collection[int]:
        windows.append((start, stop))
        return ()

    full = interpret_sequencer(conditional, "seq", triggers=record)
    assert full.instructions < 400  # two repetitions interpreted, 1022 folded
    assert isinstance(full.items[-1], Repeat)
    assert full.items[-1].count == 1022
    assert len(windows) == 1024 * 5  # the folded repetitions' windows are still asked about
    period = job.repetition_duration_ns
    assert windows[5][0] - windows[0][0] == period

    def until(threshold: int) -> TriggerSource:
        def triggers(start: int, stop: int) -> Collection[int]:
            return {1} if stop < threshold else set()

        return triggers

    sources = [record, until(10**9), until(4 * period + period // 2)]
    for triggers, reps in itertools.product(sources, (1, 7)):
        stop = reps * period
        folded = interpret_sequencer(conditional, "s", triggers=triggers, stop_ns=stop)
        plain = interpret_sequencer(
            conditional, "s", triggers=triggers, stop_ns=stop, compress=False
        )
        got, want = folded.events_before(stop), plain.events_before(stop)
        assert [(e.time, e.kind, e.gain) for e in got] == [(e.time, e.kind, e.gain) for e in want]
        assert folded.instructions <= plain.instructions
        if reps == 7 and triggers is sources[2]:  # up to the change, and after it
            assert [i.count for i in folded.items if isinstance(i, Repeat)] == [2, 1018]
    plays = [e for e in full.events_before(period) if e.kind == "play"]
    assert len(plays) == 5  # no trigger: the swept pulses only


def test_a_loop_beside_an_open_latch_window_folds(hardware: HardwareConfig) -> None:
    """After a conditional block the latch stays enabled; a loop of pulses that does not touch
    it folds, in every repetition, and the lab plays all of it."""
    s = Schedule(name="pulses-after-reset", repetitions=8, clocks=CLOCKS)
    s.add(Idle(duration=RELAX))
    s.add(pi(0))
    reset(s, measure(s, 0, label="q0"))
    with s.loop(count=200) as body:
        body.add(pi(0, 0.005))
        body.add(Idle(duration=110))  # 150 ns: whole NCO turns, the iterations are copies
    measure(s, 1)
    job = compile_schedule(s, hardware)
    trace = interpret_sequencer(_sequencer(job, "q0:mw"), "s")
    assert [i.count for i in trace.items if isinstance(i, Repeat)] == [198, 198, 6]
    plain = run(job, hardware, NOISELESS)
    assert plain[1][0] == 1.0  # from |0> after the reset, 200 pi / 200 pulses: |1>


def test_propagators_agree_with_evolve() -> None:
    """The affine map a stretch of drive applies (what the lab applies to every shot) gives
    the same excited probability as evolving the Bloch vector, from |0> or |1>, also for a
    stretch ending inside a pulse."""
    q0 = LAB.qubits["q0"]
    t = np.arange(40) + 0.5
    gauss = (0.3 * np.exp(-0.5 * ((t - 20) / 10) ** 2)).astype(np.complex128)
    pulses = [
        DrivePulse(1000, gauss, 80e6, 2 * np.pi * 80e6 * 1000e-9),
        DrivePulse(1100, gauss * 1j, 81e6, 0.3),
    ]
    cache = PropagatorCache()
    for stop in (1100, 1120, 1500):
        inside = [p for p in pulses if p.start < stop]
        m = propagator(q0, inside, 900, stop, cache=cache)
        for initial in ((0.0, 0.0, 1.0), EXCITED):
            r = m @ np.array([*initial, 1.0])
            want = evolve(q0, inside, [stop], initial=initial, start=900, cache=cache)[0]
            assert (1 - r[2]) / 2 == pytest.approx(want, abs=1e-12)
    with pytest.raises(ValueError, match="must start in"):
        propagator(q0, pulses, 1050, 1500)


def test_swept_reset_costs_little(hardware: HardwareConfig) -> None:
    """The lab interprets the conditional sequencer once in full with its repetitions folded,
    and once per branch pattern for one repetition, not once per repetition: a 21-point swept
    reset with 1024 repetitions takes milliseconds (a generous bound here)."""
    job = compile_schedule(swept_reset(repetitions=1024), hardware)
    run(job, hardware)
    start = time.perf_counter()
    run(job, hardware)
    assert time.perf_counter() - start < 0.5
