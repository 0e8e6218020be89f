"""Pulse envelopes sampled at 1 GS/s, normalised, and de-duplicated per sequencer.

A pulse becomes a *unit* waveform pair (I, Q) whose largest sample magnitude is 1, and a gain
(``amplitude * peak``) that the program sets with ``set_awg_gain``. Two pulses that differ only
in amplitude therefore share one waveform, so an amplitude sweep costs no waveform memory.
Sample ``k`` covers ``[k, k+1)`` ns and is evaluated at its centre ``k + 0.5``, which makes
symmetric envelopes (Gaussian, DRAG's I) exactly symmetric.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from qconductor.protocol.compiled import WaveformEntry
from qconductor.protocol.schedule import (
    ChirpPulse,
    DragPulse,
    GaussPulse,
    NumericalPulse,
    RampPulse,
    SoftSquarePulse,
    SquarePulse,
)

WaveformPulse = (
    SquarePulse | RampPulse | GaussPulse | DragPulse | SoftSquarePulse | ChirpPulse | NumericalPulse
)

FloatArray = npt.NDArray[np.float64]


def envelope(pulse: WaveformPulse) -> npt.NDArray[np.complex128]:
    """The pulse's complex envelope for amplitude 1 and phase 0 (I real, Q imaginary).

    A ramp's envelope is the unit ramp (0 to 1); its ``offset`` is played from the offset
    registers. A numerical pulse's envelope is its samples."""
    n = pulse.duration
    t = np.arange(n, dtype=np.float64) + 0.5
    out: npt.NDArray[np.complex128]
    if isinstance(pulse, SquarePulse):
        out = np.ones(n, dtype=np.complex128)
    elif isinstance(pulse, RampPulse):
        out = (t / n).astype(np.complex128)
    elif isinstance(pulse, NumericalPulse):
        q = np.zeros(n) if pulse.samples_q is None else np.asarray(pulse.samples_q)
        out = (np.asarray(pulse.samples_i, dtype=np.float64) + 1j * q).astype(np.complex128)
    elif isinstance(pulse, SoftSquarePulse):
        edge = 0.5 * (1 - np.cos(np.pi * t[: pulse.rise_time] / pulse.rise_time))
        real = np.ones(n)
        real[: pulse.rise_time] = edge
        real[n - pulse.rise_time :] = edge[::-1]
        out = real.astype(np.complex128)
    elif isinstance(pulse, ChirpPulse):
        seconds = t * 1e-9
        sweep = (pulse.end_freq - pulse.start_freq) / (n * 1e-9)
        out = np.exp(2j * np.pi * (pulse.start_freq * seconds + 0.5 * sweep * seconds**2))
    else:
        mu = n / 2
        sigma = pulse.sigma if pulse.sigma is not None else n / 4
        gauss = np.exp(-0.5 * ((t - mu) / sigma) ** 2)
        if isinstance(pulse, GaussPulse):
            out = gauss.astype(np.complex128)
        else:
            derivative = -(t - mu) / sigma**2 * gauss  # per ns, so beta is in ns
            out = gauss + 1j * pulse.beta * derivative
    return out


class SampledPulse(NamedTuple):
    """Indices into the sequencer's waveform table plus the gain that restores the amplitude."""

    wave_i: int
    wave_q: int
    gain: float  # fraction of full scale, may exceed 1.0 (the caller reports that)


@dataclass
class WaveformTable:
    """The waveforms of one sequencer, each stored once (I and Q are separate entries)."""

    arrays: list[FloatArray] = field(default_factory=list)
    _index: dict[bytes, int] = field(default_factory=dict)
    _pulse_cache: dict[tuple[object, ...], SampledPulse] = field(default_factory=dict)
    _extremes: dict[int, tuple[float, float]] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return sum(len(a) for a in self.arrays)

    def add_array(self, data: FloatArray) -> int:
        key = data.tobytes()
        index = self._index.get(key)
        if index is None:
            index = len(self.arrays)
            self.arrays.append(data)
            self._index[key] = index
        return index

    def add_pulse(self, pulse: WaveformPulse, *, real: bool = False) -> SampledPulse:
        """Sample ``pulse``: waveform indices and the gain that restores its amplitude."""
        unit = self.unit(pulse, real=real)
        if not isinstance(pulse.amplitude, float | int):
            raise TypeError("a swept amplitude has no single gain; use unit()")
        return SampledPulse(unit.wave_i, unit.wave_q, unit.gain * pulse.amplitude)

    def unit(self, pulse: WaveformPulse, real: bool = False) -> SampledPulse:
        """The pulse's unit waveform (amplitude 1): cached on its shape, so repeated shapes
        cost one lookup. ``real``: for a real output, whose Q path plays nothing: the Q part
        (zero, the caller checks) is not stored and ``wave_q`` repeats ``wave_i``."""
        getter = _SHAPE_GETTERS.get(type(pulse))  # (_shape_key's common case, inlined)
        shape_key = getter(pulse) if getter is not None else _shape_key(pulse)
        unit = self._pulse_cache.get(shape_key)
        if unit is None:
            i_wave, q_wave, peak = sampled_unit(shape_key, pulse)
            wave_i = self.add_array(i_wave)
            unit = SampledPulse(wave_i, wave_i if real else self.add_array(q_wave), peak)
            self._pulse_cache[shape_key] = unit
        return unit

    def extremes(self, index: int) -> tuple[float, float]:
        """(min, max) of one stored array, for full-scale checks."""
        cached = self._extremes.get(index)
        if cached is None:
            a = self.arrays[index]
            cached = (float(a.min()), float(a.max())) if len(a) else (0.0, 0.0)
            self._extremes[index] = cached
        return cached


_UNITS: dict[tuple[object, ...], tuple[FloatArray, FloatArray, float]] = {}
UNIT_CACHE_SIZE = 4096  # shapes kept across compilations (a daemon compiles the same pulses)


def sampled_unit(
    shape_key: tuple[object, ...], pulse: WaveformPulse
) -> tuple[FloatArray, FloatArray, float]:
    """The unit waveform pair of a shape and its peak, sampled once per process: sampling
    (numpy on every sample) was the largest fixed cost of compiling a small schedule. The
    arrays are read-only; the cache forgets the oldest shapes beyond ``UNIT_CACHE_SIZE``."""
    found = _UNITS.get(shape_key)
    if found is None:
        env = envelope(pulse) * np.exp(1j * np.deg2rad(pulse.phase))
        peak = float(np.max(np.maximum(np.abs(env.real), np.abs(env.imag))))
        scale = 1.0 / peak if peak > 0 else 1.0
        i_wave = np.ascontiguousarray(env.real * scale)
        q_wave = np.ascontiguousarray(env.imag * scale)
        i_wave.flags.writeable = q_wave.flags.writeable = False
        if len(_UNITS) >= UNIT_CACHE_SIZE:
            del _UNITS[next(iter(_UNITS))]
        found = _UNITS[shape_key] = (i_wave, q_wave, peak)
    return found


_ENTRIES: dict[tuple[int, int], tuple[FloatArray, WaveformEntry]] = {}


def waveform_entry(array: FloatArray, index: int) -> WaveformEntry:
    """The compiled job's entry for ``array`` at ``index``, built without validation (float
    lists from our own arrays). A read-only array (a cached unit waveform) gets one entry per
    index per process: entries are frozen and compiled jobs are shared read-only (the daemon's
    cache hands one job to every submission of a schedule), and converting and wrapping the
    samples was a sixth of a small job's compile. At most ``2 * UNIT_CACHE_SIZE`` are kept."""
    if array.flags.writeable:
        return WaveformEntry.model_construct(data=array.tolist(), index=index)
    key = (id(array), index)
    found = _ENTRIES.get(key)
    if found is None or found[0] is not array:
        if len(_ENTRIES) >= 2 * UNIT_CACHE_SIZE:
            _ENTRIES.clear()
        entry = WaveformEntry.model_construct(data=array.tolist(), index=index)
        found = _ENTRIES[key] = (array, entry)
    return found[1]


_NOT_SHAPE = frozenset({"amplitude", "port", "clock"})
_SHAPE_GETTERS: dict[type[Any], Callable[[Any], tuple[Any, ...]]] = {}


def _shape_key(pulse: WaveformPulse) -> tuple[object, ...]:
    """Everything but the amplitude: pulses with equal keys share a unit waveform.

    One ``attrgetter`` per pulse class (a third of the cost of walking the fields)."""
    if isinstance(pulse, NumericalPulse):
        q = () if pulse.samples_q is None else tuple(pulse.samples_q)
        return (pulse.kind, pulse.phase, tuple(pulse.samples_i), q)
    getter = _SHAPE_GETTERS.get(type(pulse))
    if getter is None:
        names = [n for n in type(pulse).model_fields if n not in _NOT_SHAPE]
        getter = _SHAPE_GETTERS[type(pulse)] = operator.attrgetter(*names)
    return getter(pulse)
