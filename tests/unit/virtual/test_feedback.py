"""Conditional playback in the simulated lab: the trigger network, measurement back-action and
active reset.

Default hardware and lab: q0 driven on resonance at 80 MHz (a 40 ns DRAG with beta 0 is a pi
pulse at amplitude 0.5), read by r0 on resonance at 150 MHz, where |0> transmits nothing and |1>
gives ``probe * S1``; the noise is 0.065 per quadrature, so a probe of 0.25 misassigns a shot
with probability ``Q(0.25 |S1| / 2 / 0.065)`` = 4.3 %. Every schedule starts with a relaxation
idle, so a trigger raised at the end of one repetition lands before the next resets its latch.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.virtual.lab import Lab, load_lab
from qconductor.adapters.virtual.physics import (
    EXCITED,
    GROUND,
    DrivePulse,
    evolve,
    readout_states,
    resonator_response,
)
from qconductor.adapters.virtual.simulate import simulate
from qconductor.protocol.compiled import CompiledJob, SequencerProgram
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    Conditional,
    DragPulse,
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
    ThresholdedAcquisition,
    TimedOperation,
)

ROOT = Path(__file__).resolve().parents[3]
CLOCKS = {"q0.01": 80e6, "q1.01": -60e6, "q0.ro": 150e6, "q1.ro": 250e6}
PI_AMPLITUDE = {0: 0.5, 1: 0.475}
RELAX = 1000  # ns: every repetition starts in |0> anyway; this keeps triggers in their own
LAB = load_lab()
IDEAL = LAB.model_copy(  # no decoherence: the branches are exact
    update={
        "qubits": {k: q.model_copy(update={"t1": 1.0, "t2": 1.0}) for k, q in LAB.qubits.items()}
    }
)
NOISELESS = IDEAL.model_copy(update={"noise_sigma": 0.0})
S1 = {
    q: resonator_response(LAB.resonators[f"r{q}"], f, excited=True)
    for q, f in ((0, 150e6), (1, 250e6))
}
Mode = Literal["average", "append"]
FloatArray = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(json.loads((ROOT / "config/hardware/default.json").read_text()))


def mw(q: int) -> dict[str, str]:
    return {"port": f"q{q}:mw", "clock": f"q{q}.01"}


def res(q: int) -> dict[str, str]:
    return {"port": f"q{q}:res", "clock": f"q{q}.ro"}


def pi(q: int, fraction: float = 1.0) -> DragPulse:
    return DragPulse(**mw(q), amplitude=fraction * PI_AMPLITUDE[q], beta=0.0, duration=40)


def assignment_error(probe: float, lab: Lab = LAB) -> float:
    """Misassignment of a shot thresholded halfway between |0> (0) and |1> (probe S1)."""
    if lab.noise_sigma == 0:
        return 0.0
    return 0.5 * math.erfc(probe * abs(S1[0]) / 2 / lab.noise_sigma / math.sqrt(2))


def decide(
    q: int,
    probe: float,
    *,
    acq_channel: int = 0,
    bin_mode: Mode = "average",
    feedback_trigger_label: str | None = None,
) -> ThresholdedAcquisition:
    """A thresholded acquisition deciding halfway between the |0> and |1> responses."""
    return ThresholdedAcquisition(
        **res(q),
        duration=900,
        rotation=math.degrees(math.atan2(S1[q].imag, S1[q].real)),
        threshold=probe * abs(S1[q]) / 2,
        acq_channel=acq_channel,
        bin_mode=bin_mode,
        feedback_trigger_label=feedback_trigger_label,
    )


def active_reset(
    prep: float,
    *,
    reset: bool,
    probe: float = 0.25,
    second_probe: float = 0.25,
    second: Literal["thresholded", "ssb"] = "thresholded",
    mode: Mode = "average",
    delay: int = 400,
    block: list[TimedOperation] | None = None,
    repetitions: int = 1024,
) -> Schedule:
    """Prepare q0 (``prep`` of a pi pulse), measure with feedback, flip it back if found
    excited (``reset``; otherwise wait as long), measure again (acquisition channel 1)."""
    s = Schedule(name="active-reset", repetitions=repetitions, clocks=CLOCKS)
    s.add(Idle(duration=RELAX))
    s.add(pi(0, prep))
    ro = s.add(SquarePulse(**res(0), amplitude=probe, duration=1000), delay=4)
    acq = s.add(
        decide(0, probe, bin_mode=mode, feedback_trigger_label="q0"),
        ref=ro,
        ref_pt="start",
        delay=100,
    )
    body = block if block is not None else [TimedOperation(start=0, op=pi(0))]
    if reset:
        s.add(Conditional(trigger="q0", body=body), ref=acq, delay=delay)
    else:
        s.add(Idle(duration=40), ref=acq, delay=delay)
    ro2 = s.add(SquarePulse(**res(0), amplitude=second_probe, duration=1000), delay=20)
    if second == "thresholded":
        acq2 = decide(0, second_probe, acq_channel=1, bin_mode=mode)
        s.add(acq2, ref=ro2, ref_pt="start", delay=100)
    else:
        acq3 = SSBIntegrationComplex(**res(0), duration=900, acq_channel=1, bin_mode=mode)
        s.add(acq3, ref=ro2, ref_pt="start", delay=100)
    return s


def run(
    job: Schedule | CompiledJob, hardware: HardwareConfig, lab: Lab = LAB
) -> dict[int, FloatArray]:
    if isinstance(job, Schedule):
        job = compile_schedule(job, hardware)
    return {k: np.asarray(v) for k, v in simulate(job, "cluster0", lab).items()}


def excited(signal: npt.ArrayLike, q: int, probe: float) -> npt.NDArray[np.bool_]:
    """Single-shot assignment of an SSB value: past halfway to ``probe * S1``."""
    along = (np.asarray(signal) * np.conj(S1[q])).real / abs(S1[q])
    return np.asarray(along > probe * abs(S1[q]) / 2)


def decay(ns: float) -> float:
    return math.exp(-ns * 1e-9 / LAB.qubits["q0"].t1)


def test_evolution_continues_from_a_projected_state() -> None:
    """``evolve`` from |1> at the measurement: T1 decay from there, and a pi pulse brings it
    back to |0>; readout_states reads given states (no sampling)."""
    q0 = LAB.qubits["q0"]
    start = 5000
    times = start + np.array([0, 1000, 30_000])
    p = evolve(q0, [], times, initial=EXCITED, start=start)
    np.testing.assert_allclose(p, np.exp(-(times - start) * 1e-9 / q0.t1))
    t = np.arange(40) + 0.5
    envelope = (0.5 * np.exp(-0.5 * ((t - 20) / 10) ** 2)).astype(np.complex128)
    phase = 2 * np.pi * 80e6 * (start + 100) * 1e-9  # the NCO running since t = 0
    flip = DrivePulse(start + 100, envelope, 80e6, phase)
    after = evolve(IDEAL.qubits["q0"], [flip], [start + 140], initial=EXCITED, start=start)
    assert after[0] < 1e-4
    assert evolve(q0, [], [start], initial=GROUND, start=start)[0] == 0.0
    with pytest.raises(ValueError, match="must be >= 5000 ns"):
        evolve(q0, [], [start - 1], initial=EXCITED, start=start)
    states = np.array([[True, False, True]])
    iq = readout_states(
        LAB.resonators["r0"], states, 150e6, 0.25, np.random.default_rng(0), noise_sigma=0.0
    )
    np.testing.assert_allclose(iq, np.where(states, 0.25 * S1[0], 0.0), atol=1e-15)


@pytest.mark.parametrize(("prep", "name"), [(1.0, "pi"), (0.5, "pi/2")])
def test_active_reset_improves_the_ground_state_fidelity(
    hardware: HardwareConfig, prep: float, name: str
) -> None:
    without = run(active_reset(prep, reset=False), hardware)
    with_reset = run(active_reset(prep, reset=True), hardware)
    # the feedback measurement is the same either way (the branch only follows it)
    np.testing.assert_array_equal(without[0], with_reset[0])
    first, before, after = with_reset[0][0], without[1][0], with_reset[1][0]
    print(f"\n{name}: excited after the first measurement {before:.3f} without, {after:.3f} with")
    eps = assignment_error(0.25)
    p = (first - eps) / (1 - 2 * eps)  # P(|1>) when measured, from the assigned fraction
    # from the acquisition's start: the block 1300 ns later, the second acquisition at 1460
    stay, flipped = decay(1460), (1 - decay(1300)) * decay(120)
    p_without = p * stay
    p_with = p * ((1 - eps) * flipped + eps * stay) + (1 - p) * eps * decay(120)

    def assigned(p1: float) -> float:
        return p1 * (1 - eps) + (1 - p1) * eps

    assert before == pytest.approx(assigned(p_without), abs=0.035)
    assert after == pytest.approx(assigned(p_with), abs=0.035)
    assert after < 0.15  # left excited: misassigned shots, and decay before the flip
    assert before - after > (0.75 if prep == 1.0 else 0.3)


def weak_then_strong(block: list[TimedOperation]) -> Schedule:
    """A pi/2 pulse, a weak feedback readout, ``block`` on 1, a strong readout (SSB)."""
    return active_reset(
        0.5, reset=True, probe=0.1, second_probe=1.0, second="ssb", mode="append", block=block
    )


def test_decisions_come_from_each_shots_readout(hardware: HardwareConfig) -> None:
    """A weak first readout decides wrongly at its assignment error; a strong second one sees
    the outcome: with a flip on 1, the qubit ends excited exactly when the decision was wrong.
    Without the flip (the block drives q1 instead) the second readout sees the projected state:
    the measurement's back-action."""
    kept = run(weak_then_strong([TimedOperation(start=0, op=pi(1))]), hardware, IDEAL)
    reset = run(weak_then_strong([TimedOperation(start=0, op=pi(0))]), hardware, IDEAL)
    eps = assignment_error(0.1)  # 25 %
    for data in (kept, reset):
        assert data[0].shape == data[1].shape == (1024, 1)
    decision = kept[0][:, 0] == 1
    state = excited(kept[1][:, 0], 0, 1.0)  # the projected state, kept
    print(f"\nweak readout: {(decision != state).mean():.3f} wrong decisions, expected {eps:.3f}")
    assert state.mean() == pytest.approx(0.5, abs=0.05)
    assert (decision != state).mean() == pytest.approx(eps, abs=0.04)
    # the same draws up to the branch: the same states and decisions, and now excited only
    # where the decision was wrong
    np.testing.assert_array_equal(reset[0], kept[0])
    left = excited(reset[1][:, 0], 0, 1.0)
    np.testing.assert_array_equal(left, decision != state)


def test_noiseless_branches_shot_by_shot(hardware: HardwareConfig) -> None:
    """Without noise or decay: a measured superposition stays as measured (back-action), a
    flip on 1 leaves every shot in |0>, and a flip of another qubit copies the outcome."""
    flipped = run(active_reset(0.5, reset=True, mode="append"), hardware, NOISELESS)
    assert 0.4 < flipped[0].mean() < 0.6
    assert not flipped[1].any()
    # the block flips q1 instead: q0 is measured twice with the same result, q1 follows it
    s = active_reset(0.5, reset=True, mode="append", block=[TimedOperation(start=0, op=pi(1))])
    ro = s.add(SquarePulse(**res(1), amplitude=0.25, duration=1000), delay=20)
    s.add(decide(1, 0.25, acq_channel=2, bin_mode="append"), ref=ro, ref_pt="start", delay=100)
    copied = run(s, hardware, NOISELESS)
    assert 0.4 < copied[0].mean() < 0.6
    np.testing.assert_array_equal(copied[1], copied[0])
    np.testing.assert_array_equal(copied[2], copied[0])


def test_a_block_at_the_trigger_latency_sees_the_trigger(hardware: HardwareConfig) -> None:
    data = run(active_reset(1.0, reset=True, delay=364, mode="append"), hardware, NOISELESS)
    assert data[0].all()
    assert not data[1].any()


def test_jobs_without_feedback_are_unchanged(hardware: HardwareConfig) -> None:
    """A feedback label nothing listens to changes nothing; without feedback the lab samples
    each acquisition on its own (no back-action: the fast path)."""
    labelled = active_reset(0.5, reset=False, mode="append")
    plain = labelled.model_copy(deep=True)
    op = plain.operations[3].op
    assert isinstance(op, ThresholdedAcquisition)
    plain.operations[3] = plain.operations[3].model_copy(
        update={"op": op.model_copy(update={"feedback_trigger_label": None})}
    )
    a, b = run(labelled, hardware, NOISELESS), run(plain, hardware, NOISELESS)
    for channel in (0, 1):
        np.testing.assert_array_equal(a[channel], b[channel])
    agree = (a[0] == a[1]).mean()
    assert 0.4 < agree < 0.6  # independent samples of a 50 % superposition


def _sequencer(job: CompiledJob, port: str) -> SequencerProgram:
    return next(s for m in job.clusters[0].modules for s in m.sequencers if s.port == port)


def _patched(
    job: CompiledJob,
    settings: dict[str, dict[str, object]] | None = None,
    masks: dict[str, int] | None = None,
    edit: Callable[[str, str], str] | None = None,
) -> CompiledJob:
    """``job`` with the settings of the sequencers on some ports updated, the ``set_cond``
    masks of others set, and ``edit(port, program)`` applied to every program: the trigger
    wiring the lab should see, whatever the compiler chose."""
    settings, masks = settings or {}, masks or {}
    modules = []
    for module in job.clusters[0].modules:
        sequencers = []
        for seq in module.sequencers:
            if seq.port in settings:
                update = seq.settings.model_copy(update=settings[seq.port])
                seq = seq.model_copy(update={"settings": update})
            if seq.sequence is None or seq.port is None:
                sequencers.append(seq)
                continue
            program = seq.sequence.program
            if seq.port in masks:
                program = re.sub(
                    r"set_cond (\d+), \d+,", rf"set_cond \1, {masks[seq.port]},", program
                )
            if edit is not None:
                program = edit(seq.port, program)
            sequence = seq.sequence.model_copy(update={"program": program})
            sequencers.append(seq.model_copy(update={"sequence": sequence}))
        modules.append(module.model_copy(update={"sequencers": sequencers}))
    cluster = job.clusters[0].model_copy(update={"modules": modules})
    return job.model_copy(update={"clusters": [cluster]})


def two_qubit_reset_schedule(name: str, repetitions: int, *, excite_q1: bool) -> Schedule:
    """q0 (and q1 if ``excite_q1``) excited, both measured with feedback at once (channels 0
    and 1, labels "q0" and "q1"), each followed by a conditional pi, and measured again
    (channels 2 and 3)."""
    s = Schedule(name=name, repetitions=repetitions, clocks=CLOCKS)
    s.add(Idle(duration=RELAX))
    start = s.add(pi(0))
    if excite_q1:
        s.add(pi(1), ref=start, ref_pt="start")
    acqs = []
    for q in (0, 1):
        ro = s.add(SquarePulse(**res(q), amplitude=0.25, duration=1000), ref=start, delay=4)
        acq = decide(q, 0.25, acq_channel=q, feedback_trigger_label=f"q{q}")
        acqs.append(s.add(acq, ref=ro, ref_pt="start", delay=100))
    for q in (0, 1):
        block = Conditional(trigger=f"q{q}", body=[TimedOperation(start=0, op=pi(q))])
        s.add(block, ref=acqs[q], delay=400)
    for q in (0, 1):
        ro = s.add(SquarePulse(**res(q), amplitude=0.25, duration=1000), ref=acqs[1], delay=500)
        s.add(decide(q, 0.25, acq_channel=2 + q), ref=ro, ref_pt="start", delay=100)
    return s


def two_qubit_reset(hardware: HardwareConfig) -> CompiledJob:
    """Both qubits excited and reset (see :func:`two_qubit_reset_schedule`); q1's trigger on
    address 2."""
    job = compile_schedule(two_qubit_reset_schedule("reset-both", 1024, excite_q1=True), hardware)
    assert _sequencer(job, "q0:res").settings.thresholded_acq_trigger_address == 1
    return _patched(job, {"q1:res": {"thresholded_acq_trigger_address": 2}}, masks={"q1:mw": 2})


def test_two_qubits_reset_on_their_own_triggers(hardware: HardwareConfig) -> None:
    data = run(two_qubit_reset(hardware), hardware)
    for q in (0, 1):
        assert data[q][0] > 0.9
        assert data[2 + q][0] < 0.15
    # the blocks only listen to their own address: with q1's trigger never raised, q1 keeps
    # its excitation while q0 is still reset
    job = _patched(two_qubit_reset(hardware), masks={"q1:mw": 4})  # address 3: nobody sends
    data = run(job, hardware)
    assert data[2][0] < 0.15
    assert data[3][0] > 0.85


def test_a_trigger_reaching_the_next_repetition_is_refused(hardware: HardwareConfig) -> None:
    """A program that resets its latch when the feedback acquisition starts (edited by hand: the
    compiler resets it at the end) hears the second acquisition of the previous repetition,
    whose trigger arrives after that reset (every acquisition of the sequencer triggers): on
    hardware it would count there; the lab's repetitions are independent, so it refuses."""
    s = active_reset(1.0, reset=True, repetitions=256)
    s.operations = s.operations[1:]  # no relaxation idle: the second readout ends the repetition
    first = s.operations[0].start
    s.operations = [op.model_copy(update={"start": op.start - first}) for op in s.operations]
    job = compile_schedule(s, hardware)
    assert run(job, hardware)[1][0] < 0.2  # as compiled: reset after the stale trigger came
    latch = re.compile(r"play 0, 1, (\d+)(\n\s*set_latch_en 1, 4\n\s*latch_rst )(\d+)")

    def reset_900_ns_earlier(port: str, program: str) -> str:
        if port != "q0:mw":
            return program
        found = latch.search(program)
        assert found is not None
        early, late = int(found[1]) - 900, int(found[3]) + 900
        return latch.sub(rf"play 0, 1, {early}\g<2>{late}", program)

    with pytest.raises(QconductorError) as info:
        run(_patched(job, edit=reset_900_ns_earlier), hardware)
    assert info.value.code == ErrorCode.UNSUPPORTED_OPERATION
    assert "later repetition" in info.value.message
