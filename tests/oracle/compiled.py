"""Bridges from a compiled job to q1simulator runs, and the expected signal of a schedule.

The expected output is computed from the schedule alone (envelopes, clock frequencies, the
q1simulator conventions documented in ``q1sim.py``), never from the compiler's output, so the
comparison is an independent check of the compiled programs.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from qconductor.adapters.qblox.compiler.emit import PREAMBLE_NS
from qconductor.adapters.qblox.compiler.waveforms import envelope
from qconductor.protocol.compiled import CompiledJob, ModuleProgram
from qconductor.protocol.schedule import (
    PULSE_TYPES,
    Pulse,
    RampPulse,
    ResetClockPhase,
    Schedule,
    SetClockFrequency,
    ShiftClockPhase,
    StaircasePulse,
    TimedOperation,
    VoltageOffset,
)
from qconductor.protocol.sweeps import Var
from tests.oracle.q1sim import FULL_SCALE_V, ModuleRun, Route, SeqSpec, run_module
from tests.oracle.q1sim import ModuleType as SimModuleType


def module_of(job: CompiledJob, slot: int) -> ModuleProgram:
    (cluster,) = job.clusters
    return next(m for m in cluster.modules if m.slot == slot)


def seq_specs(module: ModuleProgram) -> list[SeqSpec]:
    specs = []
    for seq in module.sequencers:
        if seq.sequence is None:
            continue
        s = seq.settings
        routes = {
            k: cast(Route, getattr(s, f"connect_out{k}"))
            for k in range(4)
            if getattr(s, f"connect_out{k}") is not None
        }
        specs.append(
            SeqSpec(
                index=seq.index,
                sequence=seq.sequence.to_driver(),
                nco_freq=s.nco_freq,
                mod_en_awg=s.mod_en_awg,
                demod_en_acq=bool(s.demod_en_acq),
                connect_out=routes,
                mixer_corr_gain_ratio=s.mixer_corr_gain_ratio,
                mixer_corr_phase_offset_degree=s.mixer_corr_phase_offset_degree,
                gain_awg_path=(s.gain_awg_path0, s.gain_awg_path1),
                offset_awg_path=(s.offset_awg_path0, s.offset_awg_path1),
                integration_length_acq=s.integration_length_acq,
            )
        )
    return specs


def run_compiled(job: CompiledJob, slot: int) -> ModuleRun:
    module = module_of(job, slot)
    return run_module(cast(SimModuleType, module.module_type), seq_specs(module))


def reference_envelope(pulse: Pulse) -> npt.NDArray[np.complex128]:
    """A pulse's complex baseband samples (amplitude and phase included), from its definition:
    a staircase's steps and a ramp's offset are computed here, not taken from the compiler."""
    n = pulse.duration
    if isinstance(pulse, StaircasePulse):
        levels = np.linspace(pulse.start_amplitude, pulse.final_amplitude, pulse.num_steps)
        edges = [round(k * n / pulse.num_steps) for k in range(pulse.num_steps)] + [n]
        steps = [np.full(b - a, lv) for a, b, lv in zip(edges[:-1], edges[1:], levels, strict=True)]
        stairs: npt.NDArray[np.complex128] = np.concatenate(steps) * np.exp(
            1j * np.deg2rad(pulse.phase)
        )
        return stairs
    if isinstance(pulse, RampPulse):
        t = np.arange(n) + 0.5
        ramp: npt.NDArray[np.complex128] = (
            pulse.offset + number(pulse.amplitude) * t / n
        ) * np.exp(1j * np.deg2rad(pulse.phase))
        return ramp
    shaped: npt.NDArray[np.complex128] = (
        number(pulse.amplitude) * envelope(pulse) * np.exp(1j * np.deg2rad(pulse.phase))
    )
    return shaped


def number(value: float | Var) -> float:
    """The reference works on unrolled schedules (see ``unroll``): no sweep variables."""
    if isinstance(value, Var):
        raise TypeError(f"unroll the schedule first: {value} is a sweep variable")
    return value


def _nco_phase(
    ops: list[TimedOperation], clock_freq: float, nco_freq: float, start: int, length: int
) -> npt.NDArray[np.float64]:
    """NCO phase (radians) over one repetition of one port-clock, sample k = start + k.

    The frequency changes with continuous phase; shifts add; a reset restarts from zero."""
    k = np.arange(length, dtype=np.float64)
    phase = np.zeros(length)
    t_ref, theta, freq = 0.0, 0.0, nco_freq
    changes = sorted(
        (t.start - start + PREAMBLE_NS, t.op)
        for t in ops
        if isinstance(t.op, SetClockFrequency | ShiftClockPhase | ResetClockPhase)
    )
    cursor = 0
    for at, op in [*changes, (length, None)]:
        at = min(at, length)
        phase[cursor:at] = theta + 2 * np.pi * freq * (k[cursor:at] - t_ref) * 1e-9
        if op is None:
            break
        current = theta + 2 * np.pi * freq * (at - t_ref) * 1e-9
        if isinstance(op, SetClockFrequency):
            theta, t_ref, freq = current, at, nco_freq + number(op.frequency) - clock_freq
        elif isinstance(op, ShiftClockPhase):
            theta, t_ref = current + np.deg2rad(number(op.phase_shift)), at
        else:
            theta, t_ref = 0.0, at
        cursor = at
    return phase


def expected_iq(
    schedule: Schedule, port: str, module_type: SimModuleType, length: int, rep_ns: int
) -> npt.NDArray[np.complex128]:
    """The complex signal (I + jQ, volts) q1simulator should render for ``port``.

    Per repetition and port-clock: the baseband signal (pulses, and DC offsets held from a
    VoltageOffset until the next) times the NCO carrier, whose phase restarts at each
    repetition (``reset_ph``) and follows the schedule's NCO operations. Schedule time 0 of a
    repetition is ``PREAMBLE_NS`` after its start; the NCO frequency is the clock's (baseband
    modules without an LO).
    """
    out = np.zeros(length, dtype=np.complex128)
    full_scale = FULL_SCALE_V[module_type]
    on_port = [t for t in schedule.operations if getattr(t.op, "port", None) == port]
    for clock in sorted({getattr(t.op, "clock", "") for t in on_port}):
        ops = [t for t in on_port if getattr(t.op, "clock", None) == clock]
        freq = schedule.clocks.get(clock, 0.0)
        baseband = np.zeros(rep_ns, dtype=np.complex128)
        offsets = sorted((t.start, t.op) for t in ops if isinstance(t.op, VoltageOffset))
        ends = [at for at, _ in offsets[1:]] + [rep_ns]
        for (at, op), end in zip(offsets, ends, strict=False):
            baseband[PREAMBLE_NS + at : PREAMBLE_NS + end] = op.offset_i + 1j * op.offset_q
        for timed in ops:
            if isinstance(timed.op, PULSE_TYPES):
                a = PREAMBLE_NS + timed.start
                baseband[a : a + timed.op.duration] += reference_envelope(timed.op)
        carrier = np.exp(1j * _nco_phase(ops, freq, freq, 0, rep_ns))
        signal = baseband * carrier / np.sqrt(2) * full_scale
        for rep in range(schedule.repetitions):
            out[rep * rep_ns : (rep + 1) * rep_ns] += signal
    return out
