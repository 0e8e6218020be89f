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
nothing and are not modelled. Per shot, a feedback measurement:

- projects its qubit: the state ``s`` is sampled from the excited-state probability at the
  acquisition's start, given the pulses played so far in that shot (conditional pulses
  included, so one feedback measurement may follow the branch of an earlier one);
- reads ``s`` out with the shot's noise and thresholds that signal with the sequencer's
  rotation and threshold: the decision ``o``, which the acquisition also returns, so readout
  errors make wrong decisions at the readout's assignment error;
- raises its trigger when ``o`` is 1; each conditional sequencer plays the branch selected by
  the triggers raised in that shot (it is interpreted once more, one repetition long, per set
  of raised triggers it tests: once for one feedback qubit).

Later acquisitions of that qubit in the repetition see the state evolved from ``|s>`` at the
feedback measurement's start with the shot's branch of the drive (so decay while the decision
is made is modelled); earlier ones, and the other qubits' acquisitions, see the state from
``|0>`` with the shot's branch, each still sampled on its own (no back-action). The decision is
made on the state at the acquisition's start: decay during the integration is not modelled.
Refused with ``UNSUPPORTED_OPERATION`` rather than simulated wrongly: more than one feedback
measurement per qubit or per trigger address in a repetition (a feedback acquisition in a loop
body is one per iteration); a trigger latched in a later repetition than the one that raised it
(the lab's shots are independent; on hardware it would count there); a conditional sequencer
that also acquires; a drive pulse on a qubit still playing when its feedback measurement
starts. Cost: a conditional sequencer's repetitions do not fold, so it is interpreted once in
full (every repetition, for the hardware's checks) and once per branch (one repetition).

**Acquisition kinds.** SSB integration and weighted integration (the demodulated mean, the
weighted one scaled by the weights' mean), thresholded (the shot's value rotated and compared
with the threshold, from the sequencer's settings), trace (the demodulated response level over
the window, averaged: the probe pulse's shape is not modelled). The lab has no photon source,
so a trigger count counts nothing. Baseband modules and the internal LO of RF modules are
modelled; an external LO behind an IQ mixer is not. Deterministic for the lab's seed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from qconductor.adapters.base import AcquisitionData
from qconductor.adapters.virtual.interpreter import interpret_sequencer
from qconductor.adapters.virtual.lab import Lab, Resonator
from qconductor.adapters.virtual.physics import (
    EXCITED,
    GROUND,
    DrivePulse,
    PropagatorCache,
    evolve,
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
IndexArray = npt.NDArray[np.intp]
SeqKey = tuple[int, int]  # (slot, sequencer index)

_INTEGRATING: Final = frozenset({"acquire", "acquire_weighed"})
_ALL_ADDRESSES: Final = 0x7FFF


@dataclass
class _Sequencer:
    """One used sequencer: its first repetition without triggers, and its place in the lab."""

    program: SequencerProgram
    path: str
    events: list[Event]  # first repetition, loops unrolled, no trigger raised
    lo: float
    qubit: str | None  # the qubit its port drives
    listens: int  # trigger addresses its set_cond instructions test (bit a - 1); 0: none
    windows: list[tuple[int, int]] = field(default_factory=list)  # latch windows it read


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
    for event in reversed(events[:k]):
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
    module: ModuleProgram, seq: SequencerProgram, path: str, lab: Lab, period: int
) -> _Sequencer:
    windows: list[tuple[int, int]] = []

    def record(start: int, stop: int) -> Collection[int]:
        windows.append((start, stop))
        return ()

    listens = _listened(seq)
    if listens:  # the same latch windows whatever the triggers: record them once
        trace = interpret_sequencer(seq, path, triggers=record)
    else:
        trace = interpret_sequencer(seq, path)
    events = trace.events_before(period) if period > 0 else trace.events()
    qubit = lab.qubit_on_port(seq.port) if seq.port is not None else None
    lo = _lo_frequency(module, seq.channels)
    return _Sequencer(seq, path, events, lo, qubit, listens, windows)


def _heard(
    arrival: int, windows: list[tuple[int, int]], period: int, count: int
) -> tuple[bool, bool]:
    """Whether a trigger arriving at ``arrival`` ns of every repetition is latched in a window
    (``[start, stop)``, read at ``stop``) of the repetition that raised it, and of a later one."""
    if period <= 0:
        return any(a <= arrival < b for a, b in windows), False
    own = later = False
    for start, stop in windows:
        k = max(0, -((arrival - start) // period))  # the first repetition at or after start
        while k < count and arrival + k * period < stop:
            own, later = own or stop // period == k, later or stop // period != k
            k += 1
    return own, later


def _arrives(arrival: int, start: int, stop: int, period: int, count: int) -> bool:
    """Whether a trigger arriving at ``arrival`` ns of every repetition (``arrival + k period``
    for ``0 <= k < count``) counts in the latch window ``[start, stop)``."""
    if period <= 0:
        return start <= arrival < stop
    k = max(0, -((arrival - start) // period))  # the first repetition at or after start
    return k < count and arrival + k * period < stop


def simulate(
    job: CompiledJob, cluster: str, lab: Lab, *, cache: PropagatorCache | None = None
) -> AcquisitionData:
    """Every acquisition of ``job`` on ``cluster``, by acquisition channel."""
    rng = np.random.default_rng(lab.seed)
    cache = cache if cache is not None else PropagatorCache()
    program = next(c for c in job.clusters if c.name == cluster)
    period, shots = job.repetition_duration_ns, job.repetitions
    seqs: dict[SeqKey, _Sequencer] = {}
    for module in program.modules:
        for seq in module.sequencers:
            if seq.sequence is None or seq.port is None:
                continue
            path = f"clusters[{cluster}].modules[{module.slot}].sequencers[{seq.index}]"
            seqs[(module.slot, seq.index)] = _load(module, seq, path, lab, period)
    specs = [spec for spec in job.acquisitions if spec.cluster == cluster]
    feedback = _feedback_measurements(seqs, lab, period, shots)
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


def _positions(events: list[Event], spec: AcquisitionSpec) -> list[int]:
    """Where the acquisitions of ``spec`` are in a sequencer's first repetition."""
    return [
        k
        for k, e in enumerate(events)
        if e.kind.startswith("acquire")
        and e.kind != "acquire_ttl_close"
        and e.acq_index == spec.acq_index
    ]


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
    seqs: dict[SeqKey, _Sequencer], lab: Lab, period: int, count: int
) -> list[_Feedback]:
    """The acquisitions whose triggers a conditional sequencer sees, by time; the ones the
    lab cannot model raise ``UNSUPPORTED_OPERATION``."""
    listeners = [s for s in seqs.values() if s.listens]
    if not listeners:
        return []
    found: list[_Feedback] = []
    for key, s in seqs.items():
        settings = s.program.settings
        address = settings.thresholded_acq_trigger_address
        if not settings.thresholded_acq_trigger_en or address is None:
            continue
        resonator = lab.resonator_on_port(s.program.port or "")
        qubit = lab.resonators[resonator].qubit if resonator is not None else None
        for k, event in enumerate(s.events):
            if event.kind not in _INTEGRATING:
                continue
            length = event.length or settings.integration_length_acq or 0
            arrival = event.time + length + TRIGGER_LATENCY_NS - 1  # counts from +latency on
            heard = False
            for listener in listeners:
                if listener.listens >> (address - 1) & 1:
                    own, later = _heard(arrival, listener.windows, period, count)
                    if later:
                        raise _late_trigger(s, listener, event.time, arrival, period)
                    heard = heard or own
            if heard:
                invert = bool(settings.thresholded_acq_trigger_invert)
                found.append(_Feedback(key, k, event.time, arrival, address, invert, qubit))
    found.sort(key=lambda f: (f.time, f.key))
    _check_feedback(found, seqs)
    return found


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


def _check_feedback(found: list[_Feedback], seqs: dict[SeqKey, _Sequencer]) -> None:
    if not found:
        return
    seen: dict[tuple[str, object], _Feedback] = {}
    for f in found:
        for what, key in (("qubit", f.qubit), ("trigger address", f.address)):
            if key is None:
                continue
            first = seen.setdefault((what, key), f)
            if first is not f:
                raise QconductorError(
                    ErrorCode.UNSUPPORTED_OPERATION,
                    f"the simulated lab models one feedback measurement per {what} in a "
                    f"repetition; {what} {key} has acquisitions at {first.time} ns and "
                    f"{f.time} ns whose triggers conditional playback uses",
                    seqs[f.key].path,
                    hint="one feedback acquisition per qubit per repetition (not in a loop)",
                )
    for s in seqs.values():
        if s.listens and any(e.kind in _INTEGRATING for e in s.events):
            raise QconductorError(
                ErrorCode.UNSUPPORTED_OPERATION,
                "the simulated lab does not model a sequencer that plays conditionally and "
                "also acquires",
                s.path,
            )


def _patterns(raised: BoolArray) -> list[tuple[frozenset[int], IndexArray]]:
    """Shots grouped by the feedback triggers they raised: (the raised ones, shot indices)."""
    n, shots = raised.shape
    if n == 0:
        return [(frozenset(), np.arange(shots))]
    codes = (raised.astype(np.int64) << np.arange(n, dtype=np.int64)[:, None]).sum(axis=0)
    values, inverse = np.unique(codes, return_inverse=True)
    return [
        (frozenset(j for j in range(n) if int(code) >> j & 1), np.flatnonzero(inverse == g))
        for g, code in enumerate(values)
    ]


class _FeedbackRun:
    """A job with feedback: the feedback measurements first, shot by shot and in time order,
    then every acquisition with the shots grouped by the branch they took."""

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
        self.base: dict[str, list[DrivePulse]] = {}  # unconditional drive, by qubit
        self.conditional: dict[str, list[SeqKey]] = {}  # conditional sequencers, by qubit
        for key, s in seqs.items():
            if s.qubit is None:
                continue
            if s.listens:
                self.conditional.setdefault(s.qubit, []).append(key)
            else:
                self.base.setdefault(s.qubit, []).extend(drive_pulses(s.events, s.lo, period))
        self.branches: dict[tuple[SeqKey, frozenset[int]], list[DrivePulse]] = {}
        n = len(feedback)
        self.raised = np.zeros((n, shots), dtype=bool)
        self.states = np.zeros((n, shots), dtype=bool)  # the projected state, True: |1>
        self.signals: dict[tuple[SeqKey, int], ComplexArray] = {}
        for j in range(n):
            self._measure(j)
        self.groups = _patterns(self.raised)

    def _measure(self, j: int) -> None:
        f = self.feedback[j]
        s = self.seqs[f.key]
        p = np.zeros(self.shots)
        if f.qubit is not None:
            qubit = self.lab.qubits[f.qubit]
            for raised, shots in _patterns(self.raised[:j]):
                drive = self.drive(f.qubit, raised)
                p[shots] = evolve(qubit, drive, [f.time], cache=self.cache)[0]
        self.states[j] = self.rng.random(self.shots) < p
        signal = self._signal(s, f.position, self.states[j])
        self.signals[(f.key, f.position)] = signal
        decision = _threshold(signal[None, :], s.program.settings)[0].real > 0.5
        self.raised[j] = decision != f.invert

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

    def drive(self, qubit: str, raised: frozenset[int]) -> list[DrivePulse]:
        """The qubit's pulses in the shots that raised the feedback triggers ``raised``."""
        pulses = list(self.base.get(qubit, []))
        for key in self.conditional.get(qubit, []):
            pulses.extend(self._branch(key, raised))
        return sorted(pulses, key=lambda p: p.start)

    def _branch(self, key: SeqKey, raised: frozenset[int]) -> list[DrivePulse]:
        s = self.seqs[key]
        heard = frozenset(j for j in raised if s.listens >> (self.feedback[j].address - 1) & 1)
        found = self.branches.get((key, heard))
        if found is not None:
            return found
        if not heard:
            events = s.events
        else:
            arrivals = [(self.feedback[j].arrival, self.feedback[j].address) for j in heard]
            period, count = self.period, self.shots

            def triggers(start: int, stop: int) -> Collection[int]:
                return {a for t, a in arrivals if _arrives(t, start, stop, period, count)}

            # the run without triggers checked the whole program: one repetition is enough
            stop = period if period > 0 else None
            trace = interpret_sequencer(s.program, s.path, triggers=triggers, stop_ns=stop)
            events = trace.events_before(period) if period > 0 else trace.events()
        found = self.branches[(key, heard)] = drive_pulses(events, s.lo, self.period)
        return found

    def acquire(
        self, spec: AcquisitionSpec
    ) -> npt.NDArray[np.complex128] | npt.NDArray[np.float64]:
        s = self.seqs[(spec.slot, spec.sequencer)]
        if spec.kind == "trigger_count":
            return _dark(spec, self.shots)
        positions = _positions(s.events, spec)
        return _reduce(self._values(spec, s, positions), spec, s, positions)

    def _values(self, spec: AcquisitionSpec, s: _Sequencer, positions: list[int]) -> ComplexArray:
        values = np.zeros((len(positions), self.shots), dtype=np.complex128)
        name = self.lab.resonator_on_port(spec.port)
        resonator = self.lab.resonators[name] if name is not None else None
        p = self._p_excited(resonator, s, positions) if resonator is not None else None
        for row, k in enumerate(positions):
            stored = self.signals.get(((spec.slot, spec.sequencer), k))
            if stored is not None:
                values[row] = stored
            elif resonator is None or p is None:
                values[row] = _noise(self.lab, self.shots, self.rng)
            else:
                states = self.rng.random(self.shots) < p[row]
                values[row] = readout_states(
                    resonator,
                    states,
                    s.events[k].nco_freq + s.lo,
                    _probe_amplitude(s.events, k),
                    self.rng,
                    noise_sigma=self.lab.noise_sigma,
                )
        return values

    def _p_excited(self, resonator: Resonator, s: _Sequencer, positions: list[int]) -> FloatArray:
        """P(|1>) per acquisition (rows) and shot (columns): the shot's branch of the drive,
        from the state its qubit's feedback measurement projected if one came before."""
        name = resonator.qubit
        qubit = self.lab.qubits[name]
        times = np.array([s.events[k].time for k in positions], dtype=np.int64)
        p = np.zeros((len(positions), self.shots))
        j = next((i for i, f in enumerate(self.feedback) if f.qubit == name), None)
        late = times > self.feedback[j].time if j is not None else np.zeros(len(times), bool)
        early = np.flatnonzero(~late)
        for raised, shots in self.groups:
            drive = self.drive(name, raised)
            if early.size:
                found = evolve(qubit, drive, times[early], cache=self.cache)
                p[np.ix_(early, shots)] = found[:, None]
            if j is None or not late.any():
                continue
            start = self.feedback[j].time
            after = _after(drive, start, name)
            for excited, initial in ((False, GROUND), (True, EXCITED)):
                projected = shots[self.states[j, shots] == excited]
                if projected.size:
                    found = evolve(
                        qubit, after, times[late], cache=self.cache, initial=initial, start=start
                    )
                    p[np.ix_(np.flatnonzero(late), projected)] = found[:, None]
        return p


def _after(drive: list[DrivePulse], start: int, qubit: str) -> list[DrivePulse]:
    """The pulses from ``start`` on; one still playing then is refused."""
    for pulse in drive:
        if pulse.start < start < pulse.end:
            raise QconductorError(
                ErrorCode.UNSUPPORTED_OPERATION,
                f"a drive pulse on {qubit} ({pulse.start}..{pulse.end} ns) is still playing when "
                f"its feedback measurement starts at {start} ns; the simulated lab projects the "
                "qubit at that instant",
            )
    return [pulse for pulse in drive if pulse.start >= start]


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
