"""Envelopes, normalisation and de-duplication."""

from __future__ import annotations

import numpy as np
import pytest

from qconductor.adapters.qblox.compiler.waveforms import WaveformTable, envelope
from qconductor.protocol.schedule import DragPulse, GaussPulse, SquarePulse


def test_amplitudes_share_one_waveform() -> None:
    table = WaveformTable()
    a = table.add_pulse(DragPulse(port="q:mw", clock="c", amplitude=0.1, beta=2, duration=40))
    b = table.add_pulse(DragPulse(port="q:mw", clock="c", amplitude=-0.7, beta=2, duration=40))
    assert (a.wave_i, a.wave_q) == (b.wave_i, b.wave_q)
    assert len(table.arrays) == 2
    assert b.gain / a.gain == pytest.approx(-7.0)


def test_normalised_to_unit_peak_and_gain_restores_amplitude() -> None:
    table = WaveformTable()
    pulse = DragPulse(port="q:mw", clock="c", amplitude=0.4, beta=30.0, duration=40)
    sampled = table.add_pulse(pulse)
    i, q = table.arrays[sampled.wave_i], table.arrays[sampled.wave_q]
    assert max(np.abs(i).max(), np.abs(q).max()) == pytest.approx(1.0)
    np.testing.assert_allclose((i + 1j * q) * sampled.gain, 0.4 * envelope(pulse))


def test_square_pulses_share_zero_q() -> None:
    table = WaveformTable()
    table.add_pulse(SquarePulse(port="q:mw", clock="c", amplitude=0.5, duration=100))
    table.add_pulse(SquarePulse(port="q:mw", clock="c", amplitude=0.5, duration=100, phase=90))
    # phase 0: (ones, zeros); phase 90: (~zeros, ones) -> ones and zeros are shared
    assert table.samples <= 3 * 100


def test_gauss_is_symmetric_and_centred() -> None:
    env = envelope(GaussPulse(port="q:mw", clock="c", amplitude=1, duration=41)).real
    np.testing.assert_allclose(env, env[::-1])
    assert env.argmax() == 20


def test_phase_rotates_iq() -> None:
    table = WaveformTable()
    s = table.add_pulse(SquarePulse(port="q:mw", clock="c", amplitude=1, duration=8, phase=90))
    np.testing.assert_allclose(table.arrays[s.wave_i], 0, atol=1e-15)
    np.testing.assert_allclose(table.arrays[s.wave_q], 1)


def test_unit_waveforms_are_sampled_once_per_process_and_read_only() -> None:
    from qconductor.adapters.qblox.compiler import waveforms

    pulse = DragPulse(port="q:mw", clock="c", amplitude=0.3, beta=1.5, duration=36)
    first = WaveformTable().unit(pulse)
    key = waveforms._shape_key(pulse)
    i_wave, q_wave, peak = waveforms._UNITS[key]
    assert not i_wave.flags.writeable
    assert not q_wave.flags.writeable
    other = WaveformTable()  # a later compilation: the cached arrays, not a new sampling
    again = other.unit(pulse.model_copy(update={"amplitude": -0.9}))
    assert other.arrays[again.wave_i] is i_wave
    assert again.gain == first.gain == peak


def test_the_unit_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from qconductor.adapters.qblox.compiler import waveforms

    monkeypatch.setattr(waveforms, "UNIT_CACHE_SIZE", 3)
    monkeypatch.setattr(waveforms, "_UNITS", {})
    table = WaveformTable()
    for duration in range(8, 40, 4):
        table.unit(SquarePulse(port="q:mw", clock="c", amplitude=0.5, duration=duration))
    assert len(waveforms._UNITS) == 3
