"""A compiled job, executed in the simulated lab: interpreter traces joined to the physics.

For each used sequencer the interpreter gives one repetition's events (the repetition loop is
folded, so a 1024-repetition job costs about one repetition). Plays and offsets on a port that
drives a qubit become drive pulses; acquisitions on a port that reads a resonator measure the
qubit at the acquisition's start: the state evolves from the ground state at the start of each
repetition (repetitions are independent; the schedule's relaxation time between them is not
carried over), and each repetition is one shot. Average mode averages the shots, append mode
keeps them. Deterministic for the lab's seed.

Modelled acquisition kinds: SSB integration and weighted integration (the demodulated mean, the
weighted one scaled by the weights' mean), thresholded (the shot's value rotated and compared
with the threshold, from the sequencer's settings), trace (the demodulated response level over
the window, averaged: the probe pulse's shape is not modelled). The lab
has no photon source, so a trigger count counts nothing. Baseband modules and the internal LO
of RF modules are modelled; an external LO behind an IQ mixer is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qconductor.adapters.base import AcquisitionData
from qconductor.adapters.virtual.interpreter import interpret_sequencer
from qconductor.adapters.virtual.lab import Lab
from qconductor.adapters.virtual.physics import DrivePulse, PropagatorCache, evolve, readout
from qconductor.adapters.virtual.trace import Event, Repeat, SequencerTrace
from qconductor.protocol.compiled import (
    AcquisitionSpec,
    CompiledJob,
    ModuleProgram,
    SequencerSettings,
)

ComplexArray = npt.NDArray[np.complex128]


@dataclass
class _Repetition:
    """One repetition of a sequencer: its events (absolute times of the first repetition),
    how many repetitions there are, and how each acquisition's bin advances per repetition."""

    events: list[Event]
    count: int
    bin_steps: dict[int, int]  # position in ``events`` -> bin advance per repetition


def one_repetition(trace: SequencerTrace) -> _Repetition:
    events: list[Event] = []
    for item in trace.items:
        if isinstance(item, Repeat):
            # the first iteration is recorded just before its Repeat, as plain events
            first = events[len(events) - sum(isinstance(e, Event) for e in item.body) :]
            steps = {i: s for i, s in enumerate(item.bin_steps) if s}
            return _Repetition(first, item.count + 1, steps)
        events.append(item)
    return _Repetition(events, 1, {})


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


def drive_pulses(rep: _Repetition, lo: float) -> list[DrivePulse]:
    """Plays (with the offsets in force) and offset stretches, as non-overlapping pulses."""
    pulses: list[DrivePulse] = []
    events = rep.events
    for k, event in enumerate(events):
        end = events[k + 1].time if k + 1 < len(events) else event.time + event.duration
        offset = complex(event.offset[0], event.offset[1])
        if event.kind == "play" and event.wave_data is not None:
            i_wave, q_wave = event.wave_data
            n = min(len(i_wave), end - event.time)
            env = event.gain[0] * i_wave[:n] + 1j * event.gain[1] * q_wave[:n] + offset
            if np.any(env):
                pulses.append(_pulse(event, env.astype(np.complex128), lo))
            if offset and end > event.time + n:
                pulses.append(_pulse(event, np.full(end - event.time - n, offset), lo, n))
        elif offset and end > event.time:
            pulses.append(_pulse(event, np.full(end - event.time, offset), lo))
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


def simulate(
    job: CompiledJob, cluster: str, lab: Lab, *, cache: PropagatorCache | None = None
) -> AcquisitionData:
    """Every acquisition of ``job`` on ``cluster``, by acquisition channel."""
    rng = np.random.default_rng(lab.seed)
    cache = cache if cache is not None else PropagatorCache()
    program = next(c for c in job.clusters if c.name == cluster)
    reps: dict[tuple[int, int], _Repetition] = {}
    settings: dict[tuple[int, int], SequencerSettings] = {}
    pulses: dict[str, list[DrivePulse]] = {}
    los: dict[tuple[int, int], float] = {}
    for module in program.modules:
        for seq in module.sequencers:
            if seq.sequence is None or seq.port is None:
                continue
            path = f"clusters[{cluster}].modules[{module.slot}].sequencers[{seq.index}]"
            trace = interpret_sequencer(seq, path)
            rep = one_repetition(trace)
            reps[(module.slot, seq.index)] = rep
            settings[(module.slot, seq.index)] = seq.settings
            los[(module.slot, seq.index)] = lo = _lo_frequency(module, seq.channels)
            qubit = lab.qubit_on_port(seq.port)
            if qubit is not None:
                pulses.setdefault(qubit, []).extend(drive_pulses(rep, lo))
    out: AcquisitionData = {}
    for spec in job.acquisitions:
        if spec.cluster != cluster:
            continue
        key = (spec.slot, spec.sequencer)
        out[spec.acq_channel] = _acquire(
            spec, reps[key], los[key], lab, pulses, rng, cache, settings[key]
        )
    return out


def _acquire(
    spec: AcquisitionSpec,
    rep: _Repetition,
    lo: float,
    lab: Lab,
    pulses: dict[str, list[DrivePulse]],
    rng: np.random.Generator,
    cache: PropagatorCache,
    settings: SequencerSettings,
) -> npt.NDArray[np.complex128] | npt.NDArray[np.float64]:
    shots = rep.count
    positions = [
        k
        for k, e in enumerate(rep.events)
        if e.kind.startswith("acquire")
        and e.kind != "acquire_ttl_close"
        and e.acq_index == spec.acq_index
    ]
    if spec.kind == "trigger_count":  # a dark detector: the lab has no photon source
        if spec.bin_mode == "append":
            return np.zeros((shots, spec.num_bins))
        return np.zeros(spec.num_bins)
    resonator_name = lab.resonator_on_port(spec.port)
    events = rep.events
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
        event = events[k]
        amplitude = _probe_amplitude(events, k)
        if resonator is not None:
            values[row] = readout(
                resonator,
                p_excited[row : row + 1],
                event.nco_freq + lo,
                amplitude,
                shots,
                rng,
                noise_sigma=lab.noise_sigma,
            )[0]
        else:
            values[row] = (rng.normal(size=shots) + 1j * rng.normal(size=shots)) * lab.noise_sigma
    if spec.kind == "trace":
        return _trace(values, spec)
    if spec.kind == "thresholded":
        values = _threshold(values, settings)
    elif spec.kind == "weighted_integration":
        values = values * np.array([_weight_scale(events[k]) for k in positions])[:, None]
        if spec.summed:
            values = (values.real + values.imag).astype(np.complex128)
    return _bins(
        values,
        spec,
        [events[k].bin or 0 for k in positions],
        [rep.bin_steps.get(k, 0) for k in positions],
    )


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
    values: ComplexArray, spec: AcquisitionSpec, bins: list[int], steps: list[int]
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
