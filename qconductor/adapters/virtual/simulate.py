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

import bisect
import itertools
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from qconductor.adapters.base import AcquisitionData
from qconductor.adapters.virtual.interpreter import TriggerSource, interpret_sequencer
from qconductor.adapters.virtual.lab import Lab, Qubit
from qconductor.adapters.virtual.physics import (
    EXCITED,
    GROUND,
    DrivePulse,
    PropagatorCache,
    evolve,
    propagator,
    readout,
    readout_states,
)
from qconductor.adapters.virtual.trace import Event, WaveArray, decode_program
from qconductor.protocol.compiled import (
    AcquisitionSpec,
    CompiledJob,
    ModuleProgram,
    SequencerProgram,
    SequencerSettings,
)
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.operations import TRIGGER_LATENCY_NS

__all__ = ["drive_pulses", "simulate"]

ComplexArray = npt.NDArray[np.complex128]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
SeqKey = tuple[int, int]  # (slot, sequencer index)

_INTEGRATING: Final = frozenset({"acquire", "acquire_weighed"})
_ALL_ADDRESSES: Final = 0x7FFF
_MAX_GROUP: Final = 2  # feedback measurements one latch hears at once (4^n runs check them)
_GROUND4: Final = np.array([*GROUND, 1.0])
_EXCITED4: Final = np.array([*EXCITED, 1.0])


@dataclass
class _Sequencer:
    """One used sequencer: its first repetition without triggers, and its place in the lab."""

    program: SequencerProgram
    path: str
    events: list[Event]  # first repetition, loops unrolled, no trigger raised
    lo: float
    qubit: str | None  # the qubit its port drives
    listens: int  # trigger addresses its set_cond instructions test (bit a - 1); 0: none
    windows: IntArray  # the latch windows it read, up to the last trigger's arrival


@dataclass(frozen=True)
class _Feedback:
    """A feedback measurement: an acquisition whose trigger a conditional sequencer sees."""

    key: SeqKey
    position: int  # in the sequencer's first-repetition events
    time: int  # the acquisition's start: when the qubit is measured
    arrival: int  # the first ns the trigger counts on the latches
    address: int
    invert: bool
    qubit: str | None
    listeners: tuple[SeqKey, ...]  # the conditional sequencers that latch its trigger


def _lo_frequency(module: ModuleProgram, channels: Iterable[str]) -> float:
    """The internal LO an RF module mixes this sequencer's signal with (0 for baseband)."""
    params = module.parameters
    for channel in channels:
        n = channel.rsplit("_", 1)[-1]
        for name in (f"out{n}_lo_freq", "out0_in0_lo_freq"):
            value = params.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
    return 0.0


def drive_pulses(events: list[Event], lo: float, stop: int | None = None) -> list[DrivePulse]:
    """Plays (with the offsets in force) and offset stretches, as non-overlapping pulses.

    A waveform plays from its ``play`` until it ends or the next ``play`` starts; parameter
    updates in between (gain, offset, NCO) apply to the rest of it from their time on. The
    last event's state lasts until ``stop`` (the repetition's end; default: its duration)."""
    pulses: list[DrivePulse] = []
    wave: tuple[WaveArray, WaveArray] | None = None
    wave_start = 0
    for k, event in enumerate(events):
        if k + 1 < len(events):
            end = events[k + 1].time
        else:
            end = max(stop or 0, event.time + event.duration)
        if event.kind == "play" and event.wave_data is not None:
            wave, wave_start = event.wave_data, event.time
        offset = complex(event.offset[0], event.offset[1])
        n, skip = 0, event.time - wave_start
        if wave is not None:
            n = max(0, min(len(wave[0]) - skip, end - event.time))
        if wave is not None and n:
            i_wave, q_wave = wave[0][skip : skip + n], wave[1][skip : skip + n]
            env = event.gain[0] * i_wave + 1j * event.gain[1] * q_wave + offset
            if np.any(env):
                pulses.append(_pulse(event, env.astype(np.complex128), lo))
        if offset and end > event.time + n:
            pulses.append(_pulse(event, np.full(end - event.time - n, offset), lo, n))
    return pulses


def _pulse(event: Event, env: ComplexArray, lo: float, delay: int = 0) -> DrivePulse:
    phase = event.nco_phase + 2 * np.pi * event.nco_freq * delay * 1e-9
    return DrivePulse(event.time + delay, env, event.nco_freq + lo, float(phase))


def _probe_amplitude(events: list[Event], k: int) -> float:
    """The readout pulse in force when acquisition ``k`` starts: the latest play's peak."""
    for i in range(k - 1, -1, -1):  # no slice: a loop's repetition holds many acquisitions
        event = events[i]
        if event.kind == "play" and event.wave_data is not None:
            peak = max(float(np.abs(w).max(initial=0)) for w in event.wave_data)
            return abs(event.gain[0]) * peak
    return 0.0


def _listened(program: SequencerProgram) -> int:
    """The trigger addresses (bit a - 1) the program's ``set_cond`` instructions test."""
    text = program.sequence.program if program.sequence is not None else ""
    if "set_cond" not in text:
        return 0
    mask = 0
    for op, args, _ in decode_program(text, _undecodable):
        if op == "set_cond":
            is_register, value = args[1]
            mask |= _ALL_ADDRESSES if is_register else value & _ALL_ADDRESSES
    return mask


def _undecodable(flag: str, detail: str, line: int) -> QconductorError:
    # the interpreter decoded the program first and would have failed the same way
    return QconductorError(ErrorCode.INTERNAL, f"{flag}: {detail} (line {line})")


def _load(
    module: ModuleProgram,
    seq: SequencerProgram,
    path: str,
    lab: Lab,
    period: int,
    listens: int,
    horizon: int,
) -> _Sequencer:
    """Interpret a sequencer in full (every repetition: the hardware's checks) without
    triggers; a conditional one also records its latch windows that start before
    ``horizon`` (when the last trigger of the first repetition arrives)."""
    windows: list[tuple[int, int]] = []

    def record(start: int, stop: int) -> Collection[int]:
        windows.append((start, stop))
        return ()

    if listens:  # the same latch windows whatever the triggers: record them once
        trace = interpret_sequencer(seq, path, triggers=record, quiet_from=horizon)
    else:
        trace = interpret_sequencer(seq, path)
    events = trace.events_before(period) if period > 0 else trace.events()
    qubit = lab.qubit_on_port(seq.port) if seq.port is not None else None
    lo = _lo_frequency(module, seq.channels)
    return _Sequencer(seq, path, events, lo, qubit, listens, _windows(windows))


def _windows(found: list[tuple[int, int]]) -> IntArray:
    """Latch windows as sorted ``(start, stop)`` rows (they do not overlap: each starts where
    the sequencer last read or reset its latch)."""
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.array(found, dtype=np.int64), axis=0)


def _arrival(event: Event, settings: SequencerSettings) -> int:
    """The first ns an acquisition's trigger counts on the latches: an instruction that late or
    later sees it."""
    length = event.length or settings.integration_length_acq or 0
    return event.time + length + TRIGGER_LATENCY_NS - 1


def _triggering(settings: SequencerSettings) -> bool:
    """Whether the sequencer sends its thresholded results on the trigger network."""
    return bool(settings.thresholded_acq_trigger_en) and (
        settings.thresholded_acq_trigger_address is not None
    )


def _horizon(seqs: Iterable[_Sequencer]) -> int:
    """One ns after the last trigger of the first repetition arrives: later latch windows
    (the next repetitions') are copies and need not be recorded."""
    arrivals = [
        _arrival(e, s.program.settings)
        for s in seqs
        if _triggering(s.program.settings)
        for e in s.events
        if e.kind in _INTEGRATING
    ]
    return max(arrivals, default=-1) + 1


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
            used.append(((module.slot, seq.index), module, seq, path, _listened(seq)))
    loaded = {
        key: _load(module, seq, path, lab, period, 0, 0)
        for key, module, seq, path, listens in used
        if not listens
    }
    # a conditional sequencer that triggers too: its triggers count (it is refused if it
    # acquires with feedback), so the others record their windows until those arrive too
    for sending in (True, False):
        horizon = _horizon(loaded.values())
        for key, module, seq, path, listens in used:
            if listens and _triggering(seq.settings) == sending:
                loaded[key] = _load(module, seq, path, lab, period, listens, horizon)
    seqs = {key: loaded[key] for key, *_ in used}
    specs = [spec for spec in job.acquisitions if spec.cluster == cluster]
    feedback = _feedback_measurements(seqs, lab, period)
    if feedback:
        run = _FeedbackRun(seqs, feedback, lab, period, shots, rng, cache)
        return {spec.acq_channel: run.acquire(spec) for spec in specs}
    pulses: dict[str, list[DrivePulse]] = {}
    for s in seqs.values():
        if s.qubit is not None:
            pulses.setdefault(s.qubit, []).extend(drive_pulses(s.events, s.lo, period))
    out: AcquisitionData = {}
    for spec in specs:
        s = seqs[(spec.slot, spec.sequencer)]
        positions = _positions(s.events, spec)
        if spec.kind == "trigger_count":
            out[spec.acq_channel] = _dark(spec, shots)
            continue
        values = _independent(spec, s, positions, shots, lab, pulses, rng, cache)
        out[spec.acq_channel] = _reduce(values, spec, s, positions)
    return out


def _acquires(event: Event) -> bool:
    return event.kind.startswith("acquire") and event.kind != "acquire_ttl_close"


def _positions(events: list[Event], spec: AcquisitionSpec) -> list[int]:
    """Where the acquisitions of ``spec`` are in a sequencer's first repetition."""
    return [k for k, e in enumerate(events) if _acquires(e) and e.acq_index == spec.acq_index]


def _dark(spec: AcquisitionSpec, shots: int) -> FloatArray:
    """A trigger count: the lab has no photon source, so the detector stays dark."""
    if spec.bin_mode == "append":
        return np.zeros((shots, spec.num_bins))
    return np.zeros(spec.num_bins)


def _noise(lab: Lab, shots: int, rng: np.random.Generator) -> ComplexArray:
    """What a port without a resonator integrates: the noise alone."""
    noise = (rng.normal(size=shots) + 1j * rng.normal(size=shots)) * lab.noise_sigma
    return np.asarray(noise, dtype=np.complex128)


def _independent(
    spec: AcquisitionSpec,
    seq: _Sequencer,
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
                _probe_amplitude(events, k),
                shots,
                rng,
                noise_sigma=lab.noise_sigma,
            )[0]
        else:
            values[row] = _noise(lab, shots, rng)
    return values


def _reduce(
    values: ComplexArray, spec: AcquisitionSpec, seq: _Sequencer, positions: list[int]
) -> npt.NDArray[np.complex128] | npt.NDArray[np.float64]:
    """Single-shot values to what the acquisition returns: per its kind and bin mode."""
    events = seq.events
    if spec.kind == "trace":
        return _trace(values, spec)
    if spec.kind == "thresholded":
        values = _threshold(values, seq.program.settings)
    elif spec.kind == "weighted_integration":
        values = values * np.array([_weight_scale(events[k]) for k in positions])[:, None]
        if spec.summed:
            values = (values.real + values.imag).astype(np.complex128)
    return _bins(values, spec, [events[k].bin or 0 for k in positions])


# --- feedback -----------------------------------------------------------------------------


def _feedback_measurements(
    seqs: dict[SeqKey, _Sequencer], lab: Lab, period: int
) -> list[_Feedback]:
    """The acquisitions whose triggers a conditional sequencer latches in their repetition, by
    time; a trigger latched in a later repetition raises ``UNSUPPORTED_OPERATION``."""
    listeners = {key: s for key, s in seqs.items() if s.listens}
    if not listeners:
        return []
    found: list[_Feedback] = []
    for key, s in seqs.items():
        if not _triggering(s.program.settings):
            continue
        settings = s.program.settings
        address = settings.thresholded_acq_trigger_address
        assert address is not None
        resonator = lab.resonator_on_port(s.program.port or "")
        qubit = lab.resonators[resonator].qubit if resonator is not None else None
        positions = [k for k, e in enumerate(s.events) if e.kind in _INTEGRATING]
        arrivals = np.array([_arrival(s.events[k], settings) for k in positions], dtype=np.int64)
        heard: dict[SeqKey, BoolArray] = {}  # by listener: which acquisitions it latches
        for lkey, listener in listeners.items():
            if not listener.listens >> (address - 1) & 1:
                continue
            heard[lkey], later = _latched(arrivals, listener.windows, period)
            if later.any():
                row = int(np.argmax(later))
                time = s.events[positions[row]].time
                raise _late_trigger(s, listener, time, int(arrivals[row]), period)
        invert = bool(settings.thresholded_acq_trigger_invert)
        for row, k in enumerate(positions):
            hearers = tuple(lkey for lkey, own in heard.items() if own[row])
            if hearers:
                time, arrival = s.events[k].time, int(arrivals[row])
                found.append(_Feedback(key, k, time, arrival, address, invert, qubit, hearers))
    found.sort(key=lambda f: (f.time, f.key))
    if found:
        _check_feedback(seqs)
    return found


def _latched(arrivals: IntArray, windows: IntArray, period: int) -> tuple[BoolArray, BoolArray]:
    """Which triggers arriving at ``arrivals`` (ns into the first repetition) a latch window
    (``[start, stop)`` rows, read at ``stop``) catches in that repetition (``own``), and which
    one read in a later repetition catches (``later``). Later repetitions are copies of the
    first, so their triggers fare the same."""
    if not len(windows) or not len(arrivals):
        none = np.zeros(len(arrivals), dtype=bool)
        return none, none
    at = np.searchsorted(windows[:, 0], arrivals, side="right") - 1
    stop = windows[np.maximum(at, 0), 1]
    hit = (at >= 0) & (arrivals < stop)
    if period <= 0:
        return hit, np.zeros(len(arrivals), dtype=bool)
    own = hit & (stop < period)
    return own, hit & ~own


def _late_trigger(
    source: _Sequencer, listener: _Sequencer, time: int, arrival: int, period: int
) -> QconductorError:
    return QconductorError(
        ErrorCode.UNSUPPORTED_OPERATION,
        f"the trigger of the acquisition at {time} ns arrives {arrival} ns into its repetition "
        f"of {period} ns and reaches the latches of {listener.path} in a later repetition, "
        "where conditional playback would count it; the simulated lab runs repetitions as "
        "independent shots",
        source.path,
        hint=f"end the repetition at least {TRIGGER_LATENCY_NS} ns after that acquisition "
        "(or start it with the relaxation idle)",
    )


def _check_feedback(seqs: dict[SeqKey, _Sequencer]) -> None:
    for s in seqs.values():
        if s.listens and any(e.kind in _INTEGRATING for e in s.events):
            raise QconductorError(
                ErrorCode.UNSUPPORTED_OPERATION,
                "the simulated lab does not model a sequencer that plays conditionally and "
                "also acquires",
                s.path,
            )


@dataclass(frozen=True)
class _Varying:
    """Pulses of a conditional sequencer that depend on the triggers of a group of feedback
    measurements (arriving at once): one pulse list per combination of them (bit ``i``: the
    trigger of ``group[i]`` raised)."""

    group: tuple[int, ...]  # feedback indices
    pulses: tuple[tuple[DrivePulse, ...], ...]
    first: int  # the earliest start over the combinations
    last: int  # the latest start


def _source(arrivals: list[tuple[int, int]]) -> TriggerSource:
    """The trigger source of one repetition in which triggers ``(arrival, address)`` were
    raised."""
    times: dict[int, list[int]] = {}
    for arrival, address in sorted(arrivals):
        times.setdefault(address, []).append(arrival)

    def triggers(start: int, stop: int) -> Collection[int]:
        found = set()
        for address, at in times.items():
            i = bisect.bisect_left(at, start)
            if i < len(at) and at[i] < stop:
                found.add(address)
        return found

    return triggers


def _same(a: Sequence[DrivePulse], b: Sequence[DrivePulse]) -> bool:
    return len(a) == len(b) and all(
        p.start == q.start
        and p.carrier_frequency == q.carrier_frequency
        and np.array_equal(p.envelope, q.envelope)
        and abs(np.exp(1j * p.carrier_phase) - np.exp(1j * q.carrier_phase)) < 1e-9
        for p, q in zip(a, b, strict=True)
    )


def _conditional_drive(
    key: SeqKey, s: _Sequencer, feedback: list[_Feedback], period: int
) -> tuple[list[DrivePulse], list[_Varying]]:
    """A conditional sequencer's pulses: the ones every shot plays, and the ones that depend on
    the feedback measurements it hears.

    The measurements it hears are grouped by arrival; the pulses starting from one group's
    arrival to the next's are taken to depend on that group's triggers alone (the compiler
    resets the latches when each feedback acquisition ends). That is checked: the sequencer is
    interpreted (one repetition) with the groups' triggers raised in every combination that
    alternates between even and odd groups, and a stretch whose pulses change with an earlier
    group's triggers is refused."""
    heard = sorted((f.arrival, j) for j, f in enumerate(feedback) if key in f.listeners)
    none = drive_pulses(s.events, s.lo, period)
    if not heard:
        return none, []
    groups: list[list[int]] = []
    bounds: list[int] = []
    for arrival, j in heard:
        if bounds and bounds[-1] == arrival:
            groups[-1].append(j)
        else:
            bounds.append(arrival)
            groups.append([j])
    width = max(len(g) for g in groups)
    if width > _MAX_GROUP:
        times = ", ".join(f"{feedback[j].time} ns" for j in max(groups, key=len))
        raise QconductorError(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"{s.path} latches the triggers of {width} feedback measurements at once "
            f"(acquisitions at {times}); the simulated lab models at most {_MAX_GROUP}",
            s.path,
        )
    runs: dict[frozenset[int], list[DrivePulse]] = {frozenset(): none}
    patterns: dict[tuple[int, ...], list[list[DrivePulse]]] = {}
    for even in range(1 << width):
        for odd in range(1 << width if len(groups) > 1 else 1):
            choice = tuple(
                (odd if g % 2 else even) & ((1 << len(members)) - 1)
                for g, members in enumerate(groups)
            )
            if choice in patterns:
                continue
            raised = frozenset(
                j
                for members, c in zip(groups, choice, strict=True)
                for i, j in enumerate(members)
                if c >> i & 1
            )
            pulses = runs.get(raised)
            if pulses is None:
                pulses = runs[raised] = _branch(s, [feedback[j] for j in raised], period)
            segments: list[list[DrivePulse]] = [[] for _ in range(len(groups) + 1)]
            for pulse in pulses:
                segments[bisect.bisect_right(bounds, pulse.start)].append(pulse)
            patterns[choice] = segments
    fixed: list[DrivePulse] = []
    varying: list[_Varying] = []
    for g in range(-1, len(groups)):
        by_combo: dict[int, list[DrivePulse]] = {}
        for choice, segments in patterns.items():
            combo = choice[g] if g >= 0 else 0
            seen = by_combo.setdefault(combo, segments[g + 1])
            if not _same(seen, segments[g + 1]):
                raise _history(s, feedback, groups, g, bounds)
        if all(_same(by_combo[0], pulses) for pulses in by_combo.values()):
            fixed.extend(by_combo[0])
            continue
        options = tuple(tuple(by_combo[c]) for c in range(1 << len(groups[g])))
        starts = [p.start for pulses in options for p in pulses]
        varying.append(_Varying(tuple(groups[g]), options, min(starts), max(starts)))
    return fixed, varying


def _branch(s: _Sequencer, raised: list[_Feedback], period: int) -> list[DrivePulse]:
    """The pulses of one repetition of a conditional sequencer in a shot that raised the
    triggers of ``raised``."""
    triggers = _source([(f.arrival, f.address) for f in raised])
    # the run without triggers checked the whole program: one repetition is enough
    stop = period if period > 0 else None
    quiet = max(f.arrival for f in raised) + 1
    trace = interpret_sequencer(
        s.program, s.path, triggers=triggers, stop_ns=stop, quiet_from=quiet
    )
    events = trace.events_before(period) if period > 0 else trace.events()
    return drive_pulses(events, s.lo, period)


def _history(
    s: _Sequencer, feedback: list[_Feedback], groups: list[list[int]], g: int, bounds: list[int]
) -> QconductorError:
    if g < 0:
        where = f"before the first trigger it hears arrives ({bounds[0]} ns)"
    else:
        times = " and ".join(f"{feedback[j].time} ns" for j in groups[g])
        where = f"after the trigger of the feedback acquisition at {times} arrives ({bounds[g]} ns)"
    return QconductorError(
        ErrorCode.UNSUPPORTED_OPERATION,
        f"what {s.path} plays {where} depends on earlier feedback decisions too; the simulated "
        "lab models conditional playback that depends only on the latest feedback measurement "
        "the sequencer heard (not: latches kept across feedback acquisitions, or a conditional "
        "block whose NCO or gain change outlasts it)",
        s.path,
    )


class _Dynamics:
    """One qubit followed shot by shot through a repetition with feedback: its Bloch vectors
    (``r``, one row ``(x, y, z, 1)`` per shot), the drive split into pieces at its feedback
    measurements, its other acquisitions and where conditional pulses start; each piece is one
    affine map per combination of the triggers its conditional pulses depend on, applied to the
    shots that raised them."""

    def __init__(
        self,
        qubit: Qubit,
        fixed: list[DrivePulse],
        varying: list[_Varying],
        collapses: list[int],
        samples: dict[int, list[tuple[SeqKey, int]]],
        raised: BoolArray,
        cache: PropagatorCache,
        name: str,
    ) -> None:
        self.qubit, self.raised, self.cache, self.name = qubit, raised, cache, name
        self.fixed = sorted(fixed, key=lambda p: p.start)
        self.fixed_starts = [p.start for p in self.fixed]
        self.varying = sorted(varying, key=lambda v: v.first)
        self.varying_firsts = [v.first for v in self.varying]
        every = self.fixed + [p for v in varying for option in v.pulses for p in option]
        every.sort(key=lambda p: p.start)
        self.starts = [p.start for p in every]
        self.pulses = every
        self.reach = list(itertools.accumulate((p.end for p in every), max))
        cuts = set()
        for t in collapses:
            playing = self.playing(t)
            if playing is not None:
                raise QconductorError(
                    ErrorCode.UNSUPPORTED_OPERATION,
                    f"a drive pulse on {name} ({playing.start}..{playing.end} ns) is still "
                    f"playing when its feedback measurement starts at {t} ns; the simulated "
                    "lab projects the qubit at that instant",
                )
            cuts.add(t)
        cuts.update(v.first for v in self.varying if self.playing(v.first) is None)
        # an acquisition during a pulse does not cut the drive: it is evaluated part-way
        self.samples = {t: ids for t, ids in samples.items() if self.playing(t) is None}
        self.partial = sorted((t, ids) for t, ids in samples.items() if t not in self.samples)
        self.cuts = sorted(cuts | set(self.samples))
        self.r = np.tile(np.array([*GROUND, 1.0]), (raised.shape[1], 1))
        self.now = self.next_cut = self.next_partial = self.low = 0
        self.p_excited: dict[tuple[SeqKey, int], FloatArray] = {}
        self.maps: dict[object, FloatArray] = {}

    def playing(self, t: int) -> DrivePulse | None:
        """A pulse (of any branch) that starts before ``t`` and ends after it."""
        i = bisect.bisect_left(self.starts, t)
        if i == 0 or self.reach[i - 1] <= t:
            return None
        return next(p for p in self.pulses[:i] if p.end > t)

    def advance(self, t: float) -> None:
        """Follow every shot up to ``t`` ns, recording the other acquisitions on the way."""
        while True:
            cut = self.cuts[self.next_cut] if self.next_cut < len(self.cuts) else math.inf
            while self.next_partial < len(self.partial):
                at, ids = self.partial[self.next_partial]
                if at >= cut or at > t:
                    break
                self.record(ids, self.apply(self.now, at))
                self.next_partial += 1
            if cut > t or cut == math.inf:
                return
            self.r = self.apply(self.now, int(cut))
            self.now = int(cut)
            self.next_cut += 1
            self.record(self.samples.get(self.now, []), self.r)

    def record(self, ids: list[tuple[SeqKey, int]], r: FloatArray) -> None:
        if ids:
            p = _p_excited(r)
            for found in ids:
                self.p_excited[found] = p

    def p(self) -> FloatArray:
        return _p_excited(self.r)

    def collapse(self, states: BoolArray) -> None:
        self.r = np.where(states[:, None], _EXCITED4, _GROUND4)

    def apply(self, start: int, stop: int) -> FloatArray:
        """The shots' Bloch vectors at ``stop``, from ``self.r`` at ``start``."""
        lo = bisect.bisect_left(self.fixed_starts, start)
        hi = bisect.bisect_left(self.fixed_starts, stop)
        fixed = self.fixed[lo:hi]
        while self.low < len(self.varying) and self.varying[self.low].last < start:
            self.low += 1
        end = bisect.bisect_left(self.varying_firsts, stop)
        items = [v for v in self.varying[self.low : end] if v.last >= start]
        if not items:
            return self.r @ self.map(fixed, start, stop).T
        codes, combos = self.codes(items)
        present, first = np.unique(codes, return_index=True)
        maps = []
        for choice in first:
            pulses = list(fixed)
            for v, c in zip(items, combos[choice], strict=True):
                pulses.extend(p for p in v.pulses[c] if start <= p.start < stop)
            maps.append(self.map(pulses, start, stop))
        if len(maps) == 1:  # every shot took the same branch
            return self.r @ maps[0].T
        out = np.empty_like(self.r)
        for code, found in zip(present, maps, strict=True):
            chosen = codes == code
            out[chosen] = self.r[chosen] @ found.T
        return out

    def codes(self, items: list[_Varying]) -> tuple[IntArray, IntArray]:
        """Per shot, the combination of raised triggers each item depends on (``combos``,
        shots x items) and one integer naming the whole choice (``codes``)."""
        combos = np.zeros((self.raised.shape[1], len(items)), dtype=np.int64)
        for n, v in enumerate(items):
            for i, j in enumerate(v.group):
                combos[:, n] |= self.raised[j].astype(np.int64) << i
        if len(items) * _MAX_GROUP < 63:
            shifts = np.arange(len(items), dtype=np.int64) * _MAX_GROUP
            return (combos << shifts).sum(axis=1), combos
        _, inverse = np.unique(combos, axis=0, return_inverse=True)
        return inverse.reshape(-1).astype(np.int64), combos

    def map(self, pulses: list[DrivePulse], start: int, stop: int) -> FloatArray:
        """The drive's map from ``start`` to ``stop``; a stretch like one seen before (the
        same pulses at the same offsets, with the same phases in the qubit frame: a loop's
        iterations) reuses its map."""
        turn = 2 * np.pi
        key = (
            stop - start,
            tuple(
                (
                    p.start - start,
                    p.carrier_frequency,
                    round(
                        (p.carrier_phase - turn * self.qubit.frequency * p.start * 1e-9) % turn, 9
                    ),
                    p.envelope.tobytes(),
                )
                for p in pulses
            ),
        )
        found = self.maps.get(key)
        if found is None:
            try:
                found = propagator(self.qubit, pulses, start, stop, cache=self.cache)
            except ValueError as exc:  # pulses overlapping in one branch
                raise QconductorError(
                    ErrorCode.UNSUPPORTED_OPERATION, f"drive of {self.name}: {exc}"
                ) from exc
            self.maps[key] = found
        return found


def _p_excited(r: FloatArray) -> FloatArray:
    p: FloatArray = np.clip((1 - r[:, 2]) / 2, 0.0, 1.0)
    return p


class _FeedbackRun:
    """A job with feedback: the feedback measurements shot by shot and in time order, each
    qubit followed shot by shot up to them (:class:`_Dynamics`); then every acquisition, the
    others sampled from the excited probability each shot had."""

    def __init__(
        self,
        seqs: dict[SeqKey, _Sequencer],
        feedback: list[_Feedback],
        lab: Lab,
        period: int,
        shots: int,
        rng: np.random.Generator,
        cache: PropagatorCache,
    ) -> None:
        self.seqs, self.feedback, self.lab = seqs, feedback, lab
        self.period, self.shots, self.rng, self.cache = period, shots, rng, cache
        self.fixed: dict[str, list[DrivePulse]] = {}  # by qubit
        varying: dict[str, list[_Varying]] = {}
        for key, s in seqs.items():
            if s.qubit is None:
                continue
            if s.listens:
                fixed, found = _conditional_drive(key, s, feedback, period)
                varying.setdefault(s.qubit, []).extend(found)
            else:
                fixed = drive_pulses(s.events, s.lo, period)
            self.fixed.setdefault(s.qubit, []).extend(fixed)
        measured = {(f.key, f.position) for f in feedback}
        collapses: dict[str, list[int]] = {}
        for f in feedback:
            if f.qubit is not None:
                collapses.setdefault(f.qubit, []).append(f.time)
        samples: dict[str, dict[int, list[tuple[SeqKey, int]]]] = {}
        for key, s in seqs.items():
            name = lab.resonator_on_port(s.program.port or "")
            if name is None:
                continue
            qubit = lab.resonators[name].qubit
            for k, event in enumerate(s.events):
                if _acquires(event) and (key, k) not in measured:
                    samples.setdefault(qubit, {}).setdefault(event.time, []).append((key, k))
        self.raised = np.zeros((len(feedback), shots), dtype=bool)
        self.dynamics = {
            name: _Dynamics(
                lab.qubits[name],
                self.fixed.get(name, []),
                varying.get(name, []),
                collapses.get(name, []),
                samples.get(name, {}),
                self.raised,
                cache,
                name,
            )
            for name in sorted(set(collapses) | {q for q, v in varying.items() if v})
        }
        self.signals: dict[tuple[SeqKey, int], ComplexArray] = {}
        for j in range(len(feedback)):
            self._measure(j)
        for dynamics in self.dynamics.values():
            dynamics.advance(math.inf)

    def _measure(self, j: int) -> None:
        f = self.feedback[j]
        s = self.seqs[f.key]
        p = np.zeros(self.shots)
        dynamics = self.dynamics.get(f.qubit) if f.qubit is not None else None
        if dynamics is not None:
            dynamics.advance(f.time)
            p = dynamics.p()
        states = self.rng.random(self.shots) < p
        signal = self._signal(s, f.position, states)
        self.signals[(f.key, f.position)] = signal
        decision = _threshold(signal[None, :], s.program.settings)[0].real > 0.5
        self.raised[j] = decision != f.invert
        if dynamics is not None:
            dynamics.collapse(states)

    def _signal(self, s: _Sequencer, k: int, states: BoolArray) -> ComplexArray:
        name = self.lab.resonator_on_port(s.program.port or "")
        if name is None:
            return _noise(self.lab, states.size, self.rng)
        return readout_states(
            self.lab.resonators[name],
            states,
            s.events[k].nco_freq + s.lo,
            _probe_amplitude(s.events, k),
            self.rng,
            noise_sigma=self.lab.noise_sigma,
        )

    def acquire(
        self, spec: AcquisitionSpec
    ) -> npt.NDArray[np.complex128] | npt.NDArray[np.float64]:
        s = self.seqs[(spec.slot, spec.sequencer)]
        if spec.kind == "trigger_count":
            return _dark(spec, self.shots)
        positions = _positions(s.events, spec)
        return _reduce(self._values(spec, s, positions), spec, s, positions)

    def _values(self, spec: AcquisitionSpec, s: _Sequencer, positions: list[int]) -> ComplexArray:
        key = (spec.slot, spec.sequencer)
        values = np.zeros((len(positions), self.shots), dtype=np.complex128)
        name = self.lab.resonator_on_port(spec.port)
        resonator = self.lab.resonators[name] if name is not None else None
        static = None
        if resonator is not None and resonator.qubit not in self.dynamics:
            qubit = self.lab.qubits[resonator.qubit]
            drive = sorted(self.fixed.get(resonator.qubit, []), key=lambda p: p.start)
            times = [s.events[k].time for k in positions]
            static = evolve(qubit, drive, times, cache=self.cache) if positions else None
        for row, k in enumerate(positions):
            stored = self.signals.get((key, k))
            if stored is not None:
                values[row] = stored
            elif resonator is None:
                values[row] = _noise(self.lab, self.shots, self.rng)
            else:
                if static is not None:
                    p: FloatArray | float = float(static[row])
                else:
                    p = self.dynamics[resonator.qubit].p_excited[(key, k)]
                states = self.rng.random(self.shots) < p
                values[row] = readout_states(
                    resonator,
                    states,
                    s.events[k].nco_freq + s.lo,
                    _probe_amplitude(s.events, k),
                    self.rng,
                    noise_sigma=self.lab.noise_sigma,
                )
        return values


# --- acquisition kinds and bins -----------------------------------------------------------


def _weight_scale(event: Event) -> float:
    if event.weight_data is None:
        return 1.0
    return float(np.mean(np.abs(event.weight_data[0])))


def _threshold(values: ComplexArray, settings: SequencerSettings) -> ComplexArray:
    """0/1 per shot, as the sequencer does: rotate by ``thresholded_acq_rotation`` and compare
    the real part with the threshold (set in integrated units: the sum over the window)."""
    rotation = np.deg2rad(settings.thresholded_acq_rotation or 0.0)
    length = settings.integration_length_acq or 1
    threshold = (settings.thresholded_acq_threshold or 0.0) / length
    rotated = (values * np.exp(-1j * rotation)).real
    ones: ComplexArray = (rotated >= threshold).astype(np.complex128)
    return ones


def _trace(values: ComplexArray, spec: AcquisitionSpec) -> ComplexArray:
    mean = values.mean(axis=1)[0] if len(values) else 0j
    return np.full(spec.integration_length or spec.num_bins, mean, dtype=np.complex128)


def _bins(
    values: ComplexArray, spec: AcquisitionSpec, bins: list[int]
) -> npt.NDArray[np.complex128] | npt.NDArray[np.float64]:
    real = spec.kind in ("thresholded",) or spec.summed
    if spec.bin_mode == "append":
        out = np.zeros((values.shape[1], spec.num_bins), dtype=np.complex128)
        for row, b in enumerate(bins):
            out[:, b % spec.num_bins] = values[row]
        return out.real if real else out
    sums = np.zeros(spec.num_bins, dtype=np.complex128)
    counts = np.zeros(spec.num_bins)
    for row, b in enumerate(bins):
        sums[b] += values[row].mean()
        counts[b] += 1
    with np.errstate(invalid="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return mean.real if real else mean
