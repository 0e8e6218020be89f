"""Lowering: each operation kind becomes events on its sequencer's timeline.

Pulses play a normalised waveform with a gain (amplitude sweeps share one waveform); a square
pulse longer than :data:`LONG_PULSE_NS` and a staircase play from the offset registers, and a
ramp is stitched from one unit-ramp waveform per segment plus an offset, so their length costs
no (or one segment of) waveform memory. Voltage offsets, markers and NCO updates are parameter
instructions at an instant. Acquisitions are lowered in :mod:`.acquisitions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from qconductor.adapters.qblox.compiler.acquisitions import ACQUISITION_LOWERING
from qconductor.adapters.qblox.compiler.context import SeqContext
from qconductor.adapters.qblox.compiler.diagnostics import op_path
from qconductor.adapters.qblox.compiler.emit import GAIN_FULL_SCALE, to_int16
from qconductor.adapters.qblox.compiler.ir import Event, Register, new_play
from qconductor.adapters.qblox.compiler.waveforms import SampledPulse, WaveformPulse, envelope
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.schedule import (
    PULSE_TYPES,
    ChirpPulse,
    DragPulse,
    GaussPulse,
    MarkerPulse,
    NumericalPulse,
    RampPulse,
    ResetClockPhase,
    SetClockFrequency,
    ShiftClockPhase,
    SoftSquarePulse,
    SquarePulse,
    StaircasePulse,
    TimedOperation,
    Var,
    VoltageOffset,
)

LONG_PULSE_NS = 2000  # square pulses longer than this play from the offset registers
RAMP_SEGMENT_NS = 1000  # ramps longer than this are stitched from segments of this length
NCO_LIMIT_HZ = 500e6
PHASE_STEPS = 1_000_000_000  # set_ph / set_ph_delta: one turn
FREQ_STEPS_PER_HZ = 4

Lowering = Callable[[SeqContext, int, TimedOperation], list[Event]]


def lowering_for(ctx: SeqContext) -> dict[type[Any], Lowering]:
    """How each operation kind lowers on this sequencer (by exact type). Where the port has
    no analog output, or a real one, the analog kinds are checked first; chosen once per
    sequencer, so the common case costs no check per operation."""
    alloc = ctx.alloc
    if alloc.analog and not alloc.real_mode:
        return LOWERING
    return _CHECKED_LOWERING


def _checked_analog(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    if not ctx.alloc.analog:
        _not_analog(ctx, index)
        return []
    if not _real_output_ok(ctx, index, timed.op):
        return []
    return LOWERING[type(timed.op)](ctx, index, timed)


def _real_output_ok(ctx: SeqContext, index: int, op: Any) -> bool:
    field = _q_part(op)
    if field is None:
        return True
    ctx.diag.error(
        ErrorCode.UNSUPPORTED_OPERATION,
        f"has a Q (imaginary) part, but port {ctx.alloc.port!r} is on a real output "
        f"({', '.join(ctx.alloc.outputs)}), which plays the I path only",
        op_path(index, field or None),
        hint="use phase 0 or 180 and no Q part (DRAG beta, samples_q, offset_q) on real "
        "outputs, or wire the port to a complex output",
    )
    return False


def _q_part(op: Any) -> str | None:
    """The field that gives ``op`` a Q part ("" when its shape does), or None if it has none:
    a real output plays path 0 only, ``I cos - Q sin`` with the NCO, so Q would leak into it."""
    if isinstance(op, VoltageOffset):
        return "offset_q" if op.offset_q != 0 else None
    if abs(math.sin(math.radians(op.phase))) > 1e-9:
        return "phase"
    if isinstance(op, StaircasePulse):
        return None
    env = envelope(op)
    if np.max(np.abs(env.imag), initial=0.0) <= 1e-9 * np.max(np.abs(env), initial=0.0):
        return None
    if isinstance(op, NumericalPulse):
        return "samples_q"
    return "beta" if isinstance(op, DragPulse) else ""


def _full_scale_error(ctx: SeqContext, index: int, peak: float, field: str = "amplitude") -> None:
    ctx.diag.error(
        ErrorCode.AMPLITUDE_OUT_OF_RANGE,
        f"reaches {peak:.4f} of full scale on {ctx.name} (amplitude, envelope and DC offset "
        "together); the maximum is 1.0",
        op_path(index, field),
        hint="lower the amplitude or the voltage offset on this port",
    )


def _offset_params(ctx: SeqContext, i: float, q: float) -> list[str]:
    ctx.uses_offsets = True
    return [f"set_awg_offs {to_int16(i)}, {to_int16(q)}"]


def _rotate(value: float, phase_deg: float) -> tuple[float, float]:
    rad = math.radians(phase_deg)
    return value * math.cos(rad), value * math.sin(rad)


def _not_analog(ctx: SeqContext, index: int) -> None:
    ctx.diag.error(
        ErrorCode.PORT_CLOCK_NO_OUTPUT,
        f"plays an analog pulse on port {ctx.alloc.port!r}, which is wired to digital outputs "
        f"only ({', '.join(ctx.alloc.outputs)})",
        op_path(index, "port"),
        hint="use a MarkerPulse on a digital port",
    )


def _play(
    ctx: SeqContext, index: int, start: int, pulse: WaveformPulse, gain: float
) -> Event | None:
    """A waveform play with the full-scale check against the current offsets. A swept
    amplitude (a :class:`Var`) plays through a gain register stepped by its loop."""
    real = ctx.alloc.real_mode  # the Q path plays nothing: zero gain, no Q waveform
    sampled = ctx.waveforms.unit(pulse, real)
    amplitude = pulse.amplitude
    gain_i: int | Register
    gain_q: int | Register
    gains: tuple[float, ...]
    if type(amplitude) is not float and isinstance(amplitude, Var):
        found = ctx.swept(
            amplitude.var, sampled.gain * gain * GAIN_FULL_SCALE, index=index, attr="amplitude"
        )
        if found is None:
            return None
        reg, sweep = found
        low, high = sweep.unit_bounds()
        gains = (low / GAIN_FULL_SCALE, high / GAIN_FULL_SCALE)
        gain_i, gain_q = reg, ctx.zero_register() if real else reg
        over = abs(gains[0]) > 1.0 or abs(gains[1]) > 1.0
    else:
        g = sampled.gain * amplitude * gain
        gains = (g,)
        over = not -1.0 <= g <= 1.0
        gain_i = to_int16(g) if over else round(g * GAIN_FULL_SCALE)  # (in range: no clamp)
        gain_q = 0 if real else gain_i
    offs_i, offs_q = ctx.offset
    # unit waveforms lie in [-1, 1], so |gain| + |offset| bounds the output
    if offs_i or offs_q or over:
        _check_full_scale(ctx, index, sampled, gains, real)
    ctx.has_pulses = True
    action = new_play((sampled.wave_i, sampled.wave_q, gain_i, gain_q))
    return Event(start, index, [], action, start + pulse.duration)


def _check_full_scale(
    ctx: SeqContext, index: int, sampled: SampledPulse, gains: tuple[float, ...], real: bool
) -> None:
    """Where |gain| + |offset| may exceed full scale: scan the waveforms' extremes."""
    offs_i, offs_q = ctx.offset
    for g in gains:
        g_q = 0.0 if real else g
        if (offs_i or offs_q or abs(g) > 1.0) and max(
            abs(g) + abs(offs_i), abs(g_q) + abs(offs_q)
        ) > 1.0 + 1e-9:
            peak = 0.0
            paths = ((sampled.wave_i, offs_i, g), (sampled.wave_q, offs_q, g_q))
            for wave, offs, path_gain in paths:
                lo, hi = ctx.waveforms.extremes(wave)
                peak = max(peak, abs(path_gain * lo + offs), abs(path_gain * hi + offs))
            if peak > 1.0 + 1e-9:
                _full_scale_error(ctx, index, peak)
                break


def _played(event: Event | None) -> list[Event]:
    return [] if event is None else [event]


def _unsupported_sweep(ctx: SeqContext, index: int, what: str, field: str) -> list[Event]:
    ctx.diag.error(
        ErrorCode.UNSUPPORTED_OPERATION,
        f"sweeps the amplitude of {what}, which plays from the offset registers; only pulses "
        "played from a waveform take a swept amplitude",
        op_path(index, field),
        hint=f"use a square pulse of at most {LONG_PULSE_NS} ns or a Gaussian/DRAG shape",
    )
    return []


def _waveform_pulse(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    event = _play(ctx, index, timed.start, timed.op, 1.0)  # type: ignore[arg-type]
    return [] if event is None else [event]  # (dispatched by type: a WaveformPulse)


def _square(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = cast(SquarePulse, timed.op)  # dispatched by type (LOWERING)
    if op.duration <= LONG_PULSE_NS:
        return _played(_play(ctx, index, timed.start, op, 1.0))
    if isinstance(op.amplitude, Var):
        return _unsupported_sweep(
            ctx, index, f"a square pulse longer than {LONG_PULSE_NS} ns", "amplitude"
        )
    i, q = _rotate(op.amplitude, op.phase)
    return _offset_pulse(ctx, index, timed.start, timed.end, [(timed.start, i, q)])


def _staircase(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, StaircasePulse)
    step = op.duration / op.num_steps
    levels = np.linspace(op.start_amplitude, op.final_amplitude, op.num_steps)
    steps = [
        (timed.start + round(k * step), *_rotate(float(level), op.phase))
        for k, level in enumerate(levels)
    ]
    if round(step) < 4:
        ctx.diag.error(
            ErrorCode.OPERATIONS_TOO_CLOSE,
            f"{op.num_steps} steps in {op.duration} ns are {step:.1f} ns each; each step is an "
            "offset update and needs at least 4 ns",
            op_path(index, "num_steps"),
            hint=f"use at most {op.duration // 4} steps",
        )
        return []
    return _offset_pulse(ctx, index, timed.start, timed.end, steps)


def _offset_pulse(
    ctx: SeqContext, index: int, start: int, end: int, steps: list[tuple[int, float, float]]
) -> list[Event]:
    """Play ``steps`` (time, i, q) on top of the current offset, restoring it at ``end``."""
    base_i, base_q = ctx.offset
    events = []
    for t, i, q in steps:
        peak = max(abs(base_i + i), abs(base_q + q))
        if peak > 1.0 + 1e-9:
            _full_scale_error(ctx, index, peak)
        events.append(Event(t, index, params=_offset_params(ctx, base_i + i, base_q + q)))
    events.append(Event(end, index, params=_offset_params(ctx, base_i, base_q)))
    ctx.offset_busy_until = end
    ctx.has_pulses = True
    return events


def _ramp(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, RampPulse)
    if op.offset == 0 and op.duration <= RAMP_SEGMENT_NS:
        return _played(_play(ctx, index, timed.start, op, 1.0))
    if isinstance(op.amplitude, Var):
        return _unsupported_sweep(
            ctx, index, f"a ramp with an offset or longer than {RAMP_SEGMENT_NS} ns", "amplitude"
        )
    # segments: offset + slope * (segment start) from the offset registers, the unit ramp on top
    base_i, base_q = ctx.offset
    events: list[Event] = []
    for seg_start in range(0, op.duration, RAMP_SEGMENT_NS):
        length = min(RAMP_SEGMENT_NS, op.duration - seg_start)
        level = op.offset + op.amplitude * seg_start / op.duration
        i, q = _rotate(level, op.phase)
        t = timed.start + seg_start
        ctx.offset = (base_i + i, base_q + q)
        segment = RampPulse(
            port=op.port, clock=op.clock, duration=length, amplitude=1.0, phase=op.phase
        )
        play = _play(ctx, index, t, segment, op.amplitude * length / op.duration)
        assert play is not None  # a fixed amplitude (swept ones are refused above)
        play.params = _offset_params(ctx, *ctx.offset)
        events.append(play)
    ctx.offset = (base_i, base_q)
    events.append(Event(timed.end, index, params=_offset_params(ctx, base_i, base_q)))
    ctx.offset_busy_until = timed.end
    return events


def _voltage_offset(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, VoltageOffset)
    if timed.start < ctx.offset_busy_until:
        ctx.diag.error(
            ErrorCode.OPERATIONS_OVERLAP,
            f"sets an offset on {ctx.name} while a long pulse plays from the offsets "
            f"(until {ctx.offset_busy_until} ns)",
            op_path(index),
        )
    ctx.offset = (op.offset_i, op.offset_q)
    return [Event(timed.start, index, params=_offset_params(ctx, op.offset_i, op.offset_q))]


def _marker(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, MarkerPulse)
    bits = ctx.alloc.marker_bits
    if not bits:
        ctx.diag.error(
            ErrorCode.PORT_CLOCK_NO_OUTPUT,
            f"a marker pulse needs a digital output; port {op.port!r} is wired to "
            f"{', '.join(ctx.alloc.outputs) or 'no output'}",
            op_path(index, "port"),
            hint="wire the port to a module's digital_output_n in the connectivity graph",
        )
        return []
    ctx.uses_markers = True
    return [
        Event(
            timed.start, index, params=[f"set_mrk {ctx.marker_base | bits}"], busy_until=timed.end
        ),
        Event(timed.end, index, params=[f"set_mrk {ctx.marker_base}"]),
    ]


def nco_steps(freq: float) -> int:
    return round(freq * FREQ_STEPS_PER_HZ)


def phase_steps(turns: float) -> int:
    """A phase in turns as the ``set_ph`` immediate (0 … 1e9 - 1)."""
    return round((turns % 1.0) * PHASE_STEPS) % PHASE_STEPS


def _set_frequency(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, SetClockFrequency)
    base = ctx.alloc.nco_freq - ctx.alloc.clock_freq  # NCO = clock frequency + base
    if isinstance(op.frequency, Var):
        found = ctx.swept(
            op.frequency.var,
            FREQ_STEPS_PER_HZ,
            FREQ_STEPS_PER_HZ * base,
            index=index,
            attr="frequency",
        )
        if found is None:
            return []
        reg, sweep = found
        low, high = (u / FREQ_STEPS_PER_HZ for u in sweep.unit_bounds())
        operand = str(reg)
    else:
        low = high = base + op.frequency
        operand = str(nco_steps(low))
    if max(abs(low), abs(high)) > NCO_LIMIT_HZ:
        nco = high if abs(high) > abs(low) else low
        ctx.diag.error(
            ErrorCode.NCO_OUT_OF_RANGE,
            f"needs an NCO frequency of {nco / 1e6:.3f} MHz on {ctx.name}; the NCO reaches "
            "±500 MHz",
            op_path(index, "frequency"),
        )
        return []
    ctx.uses_freq = True
    return [Event(timed.start, index, params=[f"set_freq {operand}"])]


def _shift_phase(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, ShiftClockPhase)
    if isinstance(op.phase_shift, Var):
        found = ctx.swept(
            op.phase_shift.var,
            PHASE_STEPS / 360,
            modulo=PHASE_STEPS,
            index=index,
            attr="phase_shift",
        )
        return [] if found is None else [Event(timed.start, index, [f"set_ph_delta {found[0]}"])]
    steps = round(op.phase_shift / 360 * PHASE_STEPS) % PHASE_STEPS
    return [Event(timed.start, index, params=[f"set_ph_delta {steps}"])]


def _reset_phase(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    assert isinstance(timed.op, ResetClockPhase)
    return [Event(timed.start, index, params=["reset_ph"])]


ANALOG_TYPES: frozenset[type[Any]] = frozenset({*PULSE_TYPES, VoltageOffset})

LOWERING: dict[type[Any], Lowering] = {
    SquarePulse: _square,
    RampPulse: _ramp,
    GaussPulse: _waveform_pulse,
    DragPulse: _waveform_pulse,
    SoftSquarePulse: _waveform_pulse,
    ChirpPulse: _waveform_pulse,
    NumericalPulse: _waveform_pulse,
    StaircasePulse: _staircase,
    VoltageOffset: _voltage_offset,
    MarkerPulse: _marker,
    SetClockFrequency: _set_frequency,
    ShiftClockPhase: _shift_phase,
    ResetClockPhase: _reset_phase,
    **ACQUISITION_LOWERING,
}
_CHECKED_LOWERING: dict[type[Any], Lowering] = {
    **LOWERING,
    **dict.fromkeys(ANALOG_TYPES, _checked_analog),
}
