"""A used sequencer in the simulated lab: its first repetition's events (interpreted with
the triggers it latches), its drive pulses, and the triggers it sends (see :mod:`.simulate`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from qconductor.adapters.virtual.interpreter import interpret_sequencer
from qconductor.adapters.virtual.lab import Lab
from qconductor.adapters.virtual.physics import (
    DrivePulse,
)
from qconductor.adapters.virtual.trace import Event, WaveArray, decode_program
from qconductor.protocol.compiled import (
    ModuleProgram,
    SequencerProgram,
    SequencerSettings,
)
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.operations import TRIGGER_LATENCY_NS

ComplexArray = npt.NDArray[np.complex128]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
SeqKey = tuple[int, int]  # (slot, sequencer index)

INTEGRATING: Final = frozenset({"acquire", "acquire_weighed"})
_ALL_ADDRESSES: Final = 0x7FFF


@dataclass
class Sequencer:
    """One used sequencer: its first repetition without triggers, and its place in the lab."""

    program: SequencerProgram
    path: str
    events: list[Event]  # first repetition, loops unrolled, no trigger raised
    lo: float
    qubit: str | None  # the qubit its port drives
    listens: int  # trigger addresses its set_cond instructions test (bit a - 1); 0: none
    windows: IntArray  # the latch windows it read, up to the last trigger's arrival


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


def probe_amplitude(events: list[Event], k: int) -> float:
    """The readout pulse in force when acquisition ``k`` starts: the latest play's peak."""
    for i in range(k - 1, -1, -1):  # no slice: a loop's repetition holds many acquisitions
        event = events[i]
        if event.kind == "play" and event.wave_data is not None:
            peak = max(float(np.abs(w).max(initial=0)) for w in event.wave_data)
            return abs(event.gain[0]) * peak
    return 0.0


def listened(program: SequencerProgram) -> int:
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


def load(
    module: ModuleProgram,
    seq: SequencerProgram,
    path: str,
    lab: Lab,
    period: int,
    listens: int,
    horizon: int,
) -> Sequencer:
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
    return Sequencer(seq, path, events, lo, qubit, listens, _windows(windows))


def _windows(found: list[tuple[int, int]]) -> IntArray:
    """Latch windows as sorted ``(start, stop)`` rows (they do not overlap: each starts where
    the sequencer last read or reset its latch)."""
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.array(found, dtype=np.int64), axis=0)


def trigger_arrival(event: Event, settings: SequencerSettings) -> int:
    """The first ns an acquisition's trigger counts on the latches: an instruction that late or
    later sees it."""
    length = event.length or settings.integration_length_acq or 0
    return event.time + length + TRIGGER_LATENCY_NS - 1


def triggering(settings: SequencerSettings) -> bool:
    """Whether the sequencer sends its thresholded results on the trigger network."""
    return bool(settings.thresholded_acq_trigger_en) and (
        settings.thresholded_acq_trigger_address is not None
    )


def latch_horizon(seqs: Iterable[Sequencer]) -> int:
    """One ns after the last trigger of the first repetition arrives: later latch windows
    (the next repetitions') are copies and need not be recorded."""
    arrivals = [
        trigger_arrival(e, s.program.settings)
        for s in seqs
        if triggering(s.program.settings)
        for e in s.events
        if e.kind in INTEGRATING
    ]
    return max(arrivals, default=-1) + 1
