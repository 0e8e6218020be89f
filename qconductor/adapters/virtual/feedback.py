"""Feedback in the simulated lab: the measurements whose triggers a conditional sequencer
latches, the branches of its drive, and the shots followed through them (the model is in
:mod:`.simulate`'s docstring)."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from qconductor.adapters.virtual.acquired import (
    acquires,
    acquisition_positions,
    dark,
    noise,
    reduce,
    threshold,
)
from qconductor.adapters.virtual.interpreter import TriggerSource, interpret_sequencer
from qconductor.adapters.virtual.lab import Lab, Qubit
from qconductor.adapters.virtual.physics import (
    EXCITED,
    GROUND,
    DrivePulse,
    PropagatorCache,
    evolve,
    propagator,
    readout_states,
)
from qconductor.adapters.virtual.sequencers import (
    INTEGRATING,
    BoolArray,
    ComplexArray,
    FloatArray,
    IntArray,
    SeqKey,
    Sequencer,
    drive_pulses,
    probe_amplitude,
    trigger_arrival,
    triggering,
)
from qconductor.protocol.compiled import (
    AcquisitionSpec,
)
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.operations import TRIGGER_LATENCY_NS

_MAX_GROUP: Final = 2  # feedback measurements one latch hears at once (4^n runs check them)
_GROUND4: Final = np.array([*GROUND, 1.0])
_EXCITED4: Final = np.array([*EXCITED, 1.0])


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


def feedback_measurements(seqs: dict[SeqKey, Sequencer], lab: Lab, period: int) -> list[_Feedback]:
    """The acquisitions whose triggers a conditional sequencer latches in their repetition, by
    time; a trigger latched in a later repetition raises ``UNSUPPORTED_OPERATION``."""
    listeners = {key: s for key, s in seqs.items() if s.listens}
    if not listeners:
        return []
    found: list[_Feedback] = []
    for key, s in seqs.items():
        if not triggering(s.program.settings):
            continue
        settings = s.program.settings
        address = settings.thresholded_acq_trigger_address
        assert address is not None
        resonator = lab.resonator_on_port(s.program.port or "")
        qubit = lab.resonators[resonator].qubit if resonator is not None else None
        positions = [k for k, e in enumerate(s.events) if e.kind in INTEGRATING]
        arrivals = np.array(
            [trigger_arrival(s.events[k], settings) for k in positions], dtype=np.int64
        )
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
    source: Sequencer, listener: Sequencer, time: int, arrival: int, period: int
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


def _check_feedback(seqs: dict[SeqKey, Sequencer]) -> None:
    for s in seqs.values():
        if s.listens and any(e.kind in INTEGRATING for e in s.events):
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
    key: SeqKey, s: Sequencer, feedback: list[_Feedback], period: int
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


def _branch(s: Sequencer, raised: list[_Feedback], period: int) -> list[DrivePulse]:
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
    s: Sequencer, feedback: list[_Feedback], groups: list[list[int]], g: int, bounds: list[int]
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


class FeedbackRun:
    """A job with feedback: the feedback measurements shot by shot and in time order, each
    qubit followed shot by shot up to them (:class:`_Dynamics`); then every acquisition, the
    others sampled from the excited probability each shot had."""

    def __init__(
        self,
        seqs: dict[SeqKey, Sequencer],
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
                if acquires(event) and (key, k) not in measured:
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
        decision = threshold(signal[None, :], s.program.settings)[0].real > 0.5
        self.raised[j] = decision != f.invert
        if dynamics is not None:
            dynamics.collapse(states)

    def _signal(self, s: Sequencer, k: int, states: BoolArray) -> ComplexArray:
        name = self.lab.resonator_on_port(s.program.port or "")
        if name is None:
            return noise(self.lab, states.size, self.rng)
        return readout_states(
            self.lab.resonators[name],
            states,
            s.events[k].nco_freq + s.lo,
            probe_amplitude(s.events, k),
            self.rng,
            noise_sigma=self.lab.noise_sigma,
        )

    def acquire(
        self, spec: AcquisitionSpec
    ) -> npt.NDArray[np.complex128] | npt.NDArray[np.float64]:
        s = self.seqs[(spec.slot, spec.sequencer)]
        if spec.kind == "trigger_count":
            return dark(spec, self.shots)
        positions = acquisition_positions(s.events, spec)
        return reduce(self._values(spec, s, positions), spec, s, positions)

    def _values(self, spec: AcquisitionSpec, s: Sequencer, positions: list[int]) -> ComplexArray:
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
                values[row] = noise(self.lab, self.shots, self.rng)
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
                    probe_amplitude(s.events, k),
                    self.rng,
                    noise_sigma=self.lab.noise_sigma,
                )
        return values
