"""Pulse envelopes sampled at 1 GS/s, normalised, and de-duplicated per sequencer.

A pulse becomes a *unit* waveform pair (I, Q) whose largest sample magnitude is 1, and a gain
(``amplitude * peak``) that the program sets with ``set_awg_gain``. Two pulses that differ only
in amplitude therefore share one waveform, so an amplitude sweep costs no waveform memory.
Sample ``k`` covers ``[k, k+1)`` ns and is evaluated at its centre ``k + 0.5``, which makes
symmetric envelopes (Gaussian, DRAG's I) exactly symmetric.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from qconductor.protocol.schedule import DragPulse, GaussPulse, Pulse, SquarePulse

FloatArray = npt.NDArray[np.float64]


def envelope(pulse: Pulse) -> npt.NDArray[np.complex128]:
    """The pulse's complex envelope for amplitude 1 and phase 0 (I real, Q imaginary)."""
    n = pulse.duration
    if isinstance(pulse, SquarePulse):
        return np.ones(n, dtype=np.complex128)
    t = np.arange(n, dtype=np.float64) + 0.5
    mu = n / 2
    sigma = pulse.sigma if pulse.sigma is not None else n / 4
    gauss = np.exp(-0.5 * ((t - mu) / sigma) ** 2)
    if isinstance(pulse, GaussPulse):
        return gauss.astype(np.complex128)
    assert isinstance(pulse, DragPulse)
    derivative = -(t - mu) / sigma**2 * gauss  # per ns, so beta is in ns
    drag: npt.NDArray[np.complex128] = gauss + 1j * pulse.beta * derivative
    return drag


@dataclass(frozen=True, slots=True)
class SampledPulse:
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

    def add_pulse(self, pulse: Pulse) -> SampledPulse:
        """Sample ``pulse`` (cached on its shape, so repeated pulses cost one lookup)."""
        shape_key = _shape_key(pulse)
        unit = self._pulse_cache.get(shape_key)
        if unit is None:
            env = envelope(pulse) * np.exp(1j * np.deg2rad(pulse.phase))
            peak = float(np.max(np.maximum(np.abs(env.real), np.abs(env.imag))))
            scale = 1.0 / peak if peak > 0 else 1.0
            i_wave = np.ascontiguousarray(env.real * scale)
            q_wave = np.ascontiguousarray(env.imag * scale)
            unit = SampledPulse(self.add_array(i_wave), self.add_array(q_wave), peak)
            self._pulse_cache[shape_key] = unit
        return SampledPulse(unit.wave_i, unit.wave_q, unit.gain * pulse.amplitude)

    def to_sequence_entries(self) -> dict[str, dict[str, object]]:
        return {f"wf{i}": {"data": a.tolist(), "index": i} for i, a in enumerate(self.arrays)}


def _shape_key(pulse: Pulse) -> tuple[object, ...]:
    """Everything but the amplitude: pulses with equal keys share a unit waveform."""
    return (
        pulse.kind,
        pulse.duration,
        pulse.phase,
        getattr(pulse, "sigma", None),
        getattr(pulse, "beta", None),
    )
