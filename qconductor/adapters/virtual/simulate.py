"""A compiled job, executed in the simulated lab: interpreter traces joined to the physics.

**Repetitions and loops.** For each used sequencer the interpreter gives a trace whose
repetition loop is folded when the iterations are copies (a 1024-repetition job then costs
about one repetition); the lab takes the first repetition, ``[0, repetition_duration_ns)``,
with the real-time loops inside it (sweeps, ``Delay`` loops, nested loops, folded or not)
unrolled, so a swept job measures what its unrolled twin does. Every repetition is one shot
(``repetitions`` shots), and repetitions are independent: each starts from the ground state
(the schedule's relaxation time between them is not carried over). Acquisitions go to the bin
the program's register named; average mode averages the shots per bin, append mode keeps them.

**Drive.** Plays and offsets on a port that drives a qubit become drive pulses: a waveform
plays from its ``play`` until it ends or the next ``play`` (a 4 ns ``play`` followed by a
``wait`` plays the whole waveform, as in a conditional block); gain, offset and NCO updates in
between apply from their time on; the last state in force lasts to the repetition's end.

**Independent measurements.** Without feedback (below) an acquisition on a port that reads a
resonator measures its qubit at the acquisition's start: each shot is sampled from the
excited-state probability of the qubit evolved from ``|0>`` with all of the repetition's
pulses. The measurements of one repetition are not correlated, and a measurement does not
disturb the qubit. This is the fast path: a job without feedback costs one evolution per
acquisition.

**Feedback (conditional playback).** A sequencer with ``thresholded_acq_trigger_en`` sends the
thresholded result of every one of its integrating acquisitions (inverted if
``thresholded_acq_trigger_invert``: the mapping is a sequencer setting) on
``thresholded_acq_trigger_address``. The result reaches the latches
:data:`~qconductor.protocol.operations.TRIGGER_LATENCY_NS` after the acquisition ends: an
instruction that late or later sees it. A conditional sequencer (one with ``set_cond``) latches
it if it arrives in one of the windows in which the interpreter reads its latch (enabled, after
the last ``latch_rst``, before the instruction testing it). An acquisition is a *feedback
measurement* when a sequencer testing its address latches its trigger; other triggers change
nothing and are not modelled. There may be any number of them, on any qubits and addresses,
also in real-time loops (an active reset in a swept loop is one per iteration).

*Per shot*, the feedback measurements are taken in time order. Each one:

- projects its qubit: the state ``s`` is sampled from that shot's excited-state probability at
  the acquisition's start;
- reads ``s`` out with the shot's noise and thresholds that signal with the sequencer's
  rotation and threshold: the decision ``o``, which the acquisition also returns, so readout
  errors make wrong decisions at the readout's assignment error;
- raises its trigger when ``o`` is 1 (``o`` is 0 when inverted).

*Each qubit* that is measured with feedback or driven conditionally is followed shot by shot: a
Bloch vector per shot, carried through the drive by affine maps (one per stretch of drive and
branch, applied to all the shots that took it; a loop's identical iterations share them),
collapsed to ``|s>`` at each of its feedback measurements. So decay while a decision is made,
residues of a wrong decision carried into the next loop iteration, and a qubit flipped by the
whole history of another's decisions are modelled. Its other acquisitions (not feedback) sample
each shot from the excited probability that shot has at their start, without disturbing it (no
back-action, as in the fast path). The decision is made on the state at the acquisition's
start: decay during the integration is not modelled.

*Which branch.* The compiler resets a conditional sequencer's latches when each feedback
acquisition ends, and a feedback sequencer's acquisitions end at least the latency apart, so
what a conditional sequencer plays from the arrival of one trigger it latches to the next
depends on that trigger alone (on the triggers of measurements arriving at once, up to two).
The lab takes it from two runs of the sequencer over one repetition: every trigger it latches
raised, and none. It checks that model with two more runs, the triggers raised in alternate
groups: a stretch that plays differently when the group before it decided differently is
refused (a dependence reaching further back, past a group that changes nothing, is not
checked). A sequencer that latches a single group is exact with its two runs.

Refused with ``UNSUPPORTED_OPERATION`` rather than simulated wrongly: a trigger latched in a
later repetition than the one that raised it (the lab's shots are independent; on hardware it
would count there); a conditional sequencer that also acquires; a drive pulse on a qubit still
playing when its feedback measurement starts; conditional playback that depends on more than
the latest decision the sequencer latched (a conditional NCO phase or frequency change that
outlasts its block and later feedback; latches not reset between feedback acquisitions); one
sequencer latching more than two feedback measurements at once.

*Cost.* A conditional sequencer's loops fold as far as the triggers they latch repeat, so it
is interpreted in full (every repetition, for the hardware's checks) about as cheaply as any
other, then over one repetition per branch pattern (two, or four with later feedback); the
shots cost a few vector operations per feedback measurement and stretch of conditional drive.
A 101-point swept active reset with 1024 repetitions takes about 50 ms.

**Acquisition kinds.** SSB integration and weighted integration (the demodulated mean, the
weighted one scaled by the weights' mean), thresholded (the shot's value rotated and compared
with the threshold, from the sequencer's settings), trace (the demodulated response level over
the window, averaged: the probe pulse's shape is not modelled). The lab has no photon source,
so a trigger count counts nothing. Baseband modules and the internal LO of RF modules are
modelled; an external LO behind an IQ mixer is not. Deterministic for the lab's seed.
"""

from __future__ import annotations

import numpy as np

from qconductor.adapters.base import AcquisitionData
from qconductor.adapters.virtual.acquired import acquisition_positions, dark, noise, reduce
from qconductor.adapters.virtual.feedback import FeedbackRun, feedback_measurements
from qconductor.adapters.virtual.lab import Lab
from qconductor.adapters.virtual.physics import (
    DrivePulse,
    PropagatorCache,
    evolve,
    readout,
)
from qconductor.adapters.virtual.sequencers import (
    ComplexArray,
    SeqKey,
    Sequencer,
    drive_pulses,
    latch_horizon,
    listened,
    load,
    probe_amplitude,
    triggering,
)
from qconductor.protocol.compiled import (
    AcquisitionSpec,
    CompiledJob,
    ModuleProgram,
    SequencerProgram,
)

__all__ = ["drive_pulses", "simulate"]


def simulate(
    job: CompiledJob, cluster: str, lab: Lab, *, cache: PropagatorCache | None = None
) -> AcquisitionData:
    """Every acquisition of ``job`` on ``cluster``, by acquisition channel."""
    rng = np.random.default_rng(lab.seed)
    cache = cache if cache is not None else PropagatorCache()
    program = next(c for c in job.clusters if c.name == cluster)
    period, shots = job.repetition_duration_ns, job.repetitions
    used: list[tuple[SeqKey, ModuleProgram, SequencerProgram, str, int]] = []
    for module in program.modules:
        for seq in module.sequencers:
            if seq.sequence is None or seq.port is None:
                continue
            path = f"clusters[{cluster}].modules[{module.slot}].sequencers[{seq.index}]"
            used.append(((module.slot, seq.index), module, seq, path, listened(seq)))
    loaded = {
        key: load(module, seq, path, lab, period, 0, 0)
        for key, module, seq, path, listens in used
        if not listens
    }
    # a conditional sequencer that triggers too: its triggers count (it is refused if it
    # acquires with feedback), so the others record their windows until those arrive too
    for sending in (True, False):
        horizon = latch_horizon(loaded.values())
        for key, module, seq, path, listens in used:
            if listens and triggering(seq.settings) == sending:
                loaded[key] = load(module, seq, path, lab, period, listens, horizon)
    seqs = {key: loaded[key] for key, *_ in used}
    specs = [spec for spec in job.acquisitions if spec.cluster == cluster]
    feedback = feedback_measurements(seqs, lab, period)
    if feedback:
        run = FeedbackRun(seqs, feedback, lab, period, shots, rng, cache)
        return {spec.acq_channel: run.acquire(spec) for spec in specs}
    pulses: dict[str, list[DrivePulse]] = {}
    for s in seqs.values():
        if s.qubit is not None:
            pulses.setdefault(s.qubit, []).extend(drive_pulses(s.events, s.lo, period))
    out: AcquisitionData = {}
    for spec in specs:
        s = seqs[(spec.slot, spec.sequencer)]
        positions = acquisition_positions(s.events, spec)
        if spec.kind == "trigger_count":
            out[spec.acq_channel] = dark(spec, shots)
            continue
        values = _independent(spec, s, positions, shots, lab, pulses, rng, cache)
        out[spec.acq_channel] = reduce(values, spec, s, positions)
    return out


def _independent(
    spec: AcquisitionSpec,
    seq: Sequencer,
    positions: list[int],
    shots: int,
    lab: Lab,
    pulses: dict[str, list[DrivePulse]],
    rng: np.random.Generator,
    cache: PropagatorCache,
) -> ComplexArray:
    """Single-shot values (rows: ``positions``), each acquisition sampled on its own."""
    resonator_name = lab.resonator_on_port(spec.port)
    events = seq.events
    times = [events[k].time for k in positions]
    if resonator_name is None:
        p_excited = np.zeros(len(positions))
        resonator = None
    else:
        resonator = lab.resonators[resonator_name]
        qubit = lab.qubits[resonator.qubit]
        drive = sorted(pulses.get(resonator.qubit, []), key=lambda p: p.start)
        p_excited = evolve(qubit, drive, times, cache=cache) if positions else np.zeros(0)
    values = np.zeros((len(positions), shots), dtype=np.complex128)
    for row, k in enumerate(positions):
        if resonator is not None:
            values[row] = readout(
                resonator,
                p_excited[row : row + 1],
                events[k].nco_freq + seq.lo,
                probe_amplitude(events, k),
                shots,
                rng,
                noise_sigma=lab.noise_sigma,
            )[0]
        else:
            values[row] = noise(lab, shots, rng)
    return values
