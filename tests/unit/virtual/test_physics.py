"""The physics model against closed forms: Rabi, generalised Rabi, T1, Ramsey, spectroscopy,
multiplexed single-shot readout, determinism and the propagator cache."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from qconductor.adapters.virtual.lab import Lab, Qubit, load_lab
from qconductor.adapters.virtual.physics import (
    DrivePulse,
    PropagatorCache,
    evolve,
    readout,
    resonator_response,
)

ComplexArray = npt.NDArray[np.complex128]
BoolArray = npt.NDArray[np.bool_]


@pytest.fixture(scope="module")
def lab() -> Lab:
    return load_lab()


@pytest.fixture(scope="module")
def ideal(lab: Lab) -> Qubit:
    """q0 with (practically) no decoherence, for comparisons with closed forms."""
    return lab.qubits["q0"].model_copy(update={"t1": 1.0, "t2": 1.0})


def square(amplitude: float, duration: int) -> ComplexArray:
    return np.full(duration, amplitude, dtype=np.complex128)


def drag(amplitude: float, beta: float = 0.5, duration: int = 40) -> ComplexArray:
    t = np.arange(duration) + 0.5
    mu, sigma = duration / 2, duration / 4
    gauss = np.exp(-0.5 * ((t - mu) / sigma) ** 2)
    env = gauss - 1j * beta * (t - mu) / sigma**2 * gauss
    return np.asarray(amplitude * env, dtype=np.complex128)


def threshold(iq: ComplexArray, zero: complex, one: complex) -> BoolArray:
    """Single-shot assignment: True (|1>) past the midpoint on the line from zero to one."""
    axis = (one - zero) / abs(one - zero)
    return np.asarray(((iq - zero) * np.conj(axis)).real > abs(one - zero) / 2)


def nco(frequency: float, start: int, offset: float = 0.0) -> float:
    """The lab-frame phase of a continuously running NCO at ``start`` (ns)."""
    return 2 * np.pi * frequency * start * 1e-9 + offset


def test_rabi_period_in_amplitude_is_one_over_rate_times_duration(ideal: Qubit) -> None:
    cache = PropagatorCache()
    amplitudes = np.linspace(-1.0, 1.0, 41)
    for duration in (12, 20, 48):
        got = [
            evolve(
                ideal,
                [DrivePulse(0, square(a, duration), ideal.frequency)],
                [duration],
                cache=cache,
            )[0]
            for a in amplitudes
        ]
        rate = ideal.rabi_frequency_per_amplitude * duration * 1e-9  # 1 / period in amplitude
        np.testing.assert_allclose(got, np.sin(np.pi * rate * amplitudes) ** 2, atol=1e-6)


def test_detuned_square_pulse_follows_the_generalised_rabi_formula(ideal: Qubit) -> None:
    amplitude, durations = 0.1, np.arange(0, 200, 7)
    rabi = ideal.rabi_frequency_per_amplitude * amplitude
    for detuning in (-6e6, 3e6):
        pulse = DrivePulse(100, square(amplitude, 200), ideal.frequency + detuning, 1.3)
        got = evolve(ideal, [pulse], 100 + durations)  # measured part-way through the pulse
        general = np.hypot(rabi, detuning)
        want = (rabi / general) ** 2 * np.sin(np.pi * general * durations * 1e-9) ** 2
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert got.max() < 0.9  # off resonance the swap is incomplete


def test_default_drag_at_half_amplitude_is_a_pi_pulse(lab: Lab) -> None:
    q0, q1 = lab.qubits["q0"], lab.qubits["q1"]
    assert evolve(q0, [DrivePulse(0, drag(0.5), q0.frequency)], [40])[0] > 0.99
    assert evolve(q1, [DrivePulse(0, drag(0.475), q1.frequency)], [40])[0] > 0.99
    wrong_carrier = DrivePulse(0, drag(0.5), q1.frequency)  # q1's clock does not reach q0
    assert evolve(q0, [wrong_carrier], [40])[0] < 0.01


def test_fitted_t1_matches_the_configured_one(lab: Lab) -> None:
    qubit = lab.qubits["q0"]
    pi = square(0.5 / (qubit.rabi_frequency_per_amplitude * 20e-9), 20)
    taus = np.arange(0, 100_001, 5_000)
    p = evolve(qubit, [DrivePulse(0, pi, qubit.frequency)], 20 + taus)
    slope, _ = np.polyfit(taus * 1e-9, np.log(p), 1)
    assert -1 / slope == pytest.approx(qubit.t1, rel=0.05)
    assert p[0] > 0.998
    silent = DrivePulse(20, np.zeros(10_000, dtype=np.complex128), qubit.frequency)  # relaxes too
    during = evolve(qubit, [DrivePulse(0, pi, qubit.frequency), silent], [10_020])
    np.testing.assert_allclose(during, p[2], rtol=1e-9)


def test_ramsey_fringes_at_the_detuning_decay_with_t2(lab: Lab) -> None:
    qubit = lab.qubits["q0"].model_copy(update={"t1": 1.0})  # isolate dephasing
    detuning, duration = 1e6, 10
    half_pi = square(0.25 / (qubit.rabi_frequency_per_amplitude * duration * 1e-9), duration)
    carrier = qubit.frequency + detuning
    taus = np.arange(0, 4000, 50)
    got = []
    for tau in taus:
        second = duration + int(tau)
        pulses = [
            DrivePulse(0, half_pi, carrier, nco(carrier, 0)),
            DrivePulse(second, half_pi, carrier, nco(carrier, second)),
        ]
        got.append(evolve(qubit, pulses, [second + duration])[0])
    gap = (taus + duration) * 1e-9  # centre to centre
    want = 0.5 + 0.5 * np.exp(-gap / qubit.t2) * np.cos(2 * np.pi * detuning * gap)
    np.testing.assert_allclose(got, want, atol=0.02)


def test_phase_of_the_carrier_sets_the_rotation_axis(ideal: Qubit) -> None:
    f, half_pi = ideal.frequency, square(0.25 / (ideal.rabi_frequency_per_amplitude * 10e-9), 10)
    first = DrivePulse(0, half_pi, f, nco(f, 0))
    same_axis = DrivePulse(500, half_pi, f, nco(f, 500))
    reversed_axis = DrivePulse(500, half_pi, f, nco(f, 500, np.pi))
    assert evolve(ideal, [first, same_axis], [510])[0] == pytest.approx(1.0, abs=1e-6)
    assert evolve(ideal, [first, reversed_axis], [510])[0] == pytest.approx(0.0, abs=1e-6)


def test_measure_times_any_order_and_around_pulses(ideal: Qubit) -> None:
    pi = square(0.5 / (ideal.rabi_frequency_per_amplitude * 20e-9), 20)
    pulse = DrivePulse(100, pi, ideal.frequency)
    got = evolve(ideal, [pulse], [120, 0, 110, 100, 5000])
    np.testing.assert_allclose(got, [1.0, 0.0, 0.5, 0.0, 1.0], atol=1e-5)
    assert evolve(ideal, [], [0, 10]).tolist() == [0.0, 0.0]


def test_overlapping_pulses_are_refused(ideal: Qubit) -> None:
    pulses = [DrivePulse(0, square(0.1, 20), 0.0), DrivePulse(10, square(0.1, 20), 0.0)]
    with pytest.raises(ValueError, match="overlap"):
        evolve(ideal, pulses, [40])


def test_repeated_pulses_hit_the_cache(lab: Lab) -> None:
    qubit, cache = lab.qubits["q0"], PropagatorCache()
    starts = [i * 20_000 for i in range(100)]
    repeated = [DrivePulse(s, drag(0.5), qubit.frequency, nco(qubit.frequency, s)) for s in starts]
    evolve(qubit, repeated, [s + 44 for s in starts], cache=cache)
    assert (cache.misses, cache.hits, len(cache)) == (1, 99, 1)

    sweep = [
        DrivePulse(s, drag(a), qubit.frequency, nco(qubit.frequency, s))
        for s, a in zip(starts, np.linspace(-0.8, 0.8, 100), strict=True)
    ]
    first = evolve(qubit, sweep, [s + 44 for s in starts], cache=cache)
    assert (cache.misses, cache.hits) == (1 + 100, 99)  # 100 new amplitudes: one batch
    again = evolve(qubit, sweep, [s + 44 for s in starts], cache=cache)
    assert (cache.misses, cache.hits) == (101, 99 + 100)
    np.testing.assert_array_equal(first, again)


def test_cache_is_bounded() -> None:
    cache = PropagatorCache(max_entries=2)
    for i in range(3):
        cache.put((0.0, 0.0, 0.0, float(i), b""), np.eye(4))
    assert len(cache) == 2
    assert cache.get((0.0, 0.0, 0.0, 0.0, b"")) is None


def test_spectroscopy_dip_at_the_resonator_moves_by_the_dispersive_shift(lab: Lab) -> None:
    resonator, rng = lab.resonators["r0"], np.random.default_rng(1)
    probes = resonator.frequency + np.arange(-5e6, 5e6 + 1, 50e3)
    for p, centre in ((0.0, resonator.frequency), (1.0, resonator.frequency - 2e6)):
        means = [
            abs(readout(resonator, [p], f, 1.0, 1024, rng, noise_sigma=lab.noise_sigma).mean())
            for f in probes
        ]
        assert probes[int(np.argmin(means))] == pytest.approx(centre, abs=1.0)
        assert max(means) > 0.9 * resonator.response_amplitude
    assert resonator.dispersive_shift == 2e6


def test_multiplexed_qubits_are_read_out_separably(lab: Lab) -> None:
    """q0 gets a pi pulse, q1 does not; each resonator, probed at its clock, tells which."""
    rng = np.random.default_rng(lab.seed)
    shots, amplitude = 4096, 0.25
    q0 = lab.qubits["q0"]
    p_q0 = evolve(q0, [DrivePulse(0, drag(0.5), q0.frequency)], [44])
    p_q1 = evolve(lab.qubits["q1"], [], [44])
    for name, p, want in (("r0", p_q0, 1), ("r1", p_q1, 0)):
        res = lab.resonators[name]
        ref = readout(
            res, [0.0, 1.0], res.frequency, amplitude, shots, rng, noise_sigma=lab.noise_sigma
        )
        zero, one = ref.mean(axis=1)
        assert abs(one - zero) > 50 * lab.noise_sigma / np.sqrt(shots)  # averages: clean

        errors = threshold(ref[0], zero, one).mean() + (1 - threshold(ref[1], zero, one).mean())
        assert 1 - errors / 2 > 0.9  # single shots: assignment fidelity
        shots_iq = readout(
            res, p, res.frequency, amplitude, shots, rng, noise_sigma=lab.noise_sigma
        )
        assert threshold(shots_iq[0], zero, one).mean() == pytest.approx(want, abs=0.1)


def test_readout_shapes_and_averages(lab: Lab) -> None:
    res, rng = lab.resonators["r1"], np.random.default_rng(3)
    p = np.array([0.0, 0.3, 1.0])
    iq = readout(res, p, res.frequency, 0.5, 20_000, rng, noise_sigma=lab.noise_sigma)
    assert iq.shape == (3, 20_000)
    assert iq.dtype == np.complex128
    s0, s1 = (0.5 * resonator_response(res, res.frequency, e) for e in (False, True))
    np.testing.assert_allclose(iq.mean(axis=1), (1 - p) * s0 + p * s1, atol=0.01)
    assert np.std(iq[0].real) == pytest.approx(lab.noise_sigma, rel=0.05)
    assert np.std(iq[0].imag) == pytest.approx(lab.noise_sigma, rel=0.05)


def test_readout_is_deterministic_for_a_seed(lab: Lab) -> None:
    res = lab.resonators["r0"]

    def run(seed: int) -> ComplexArray:
        rng = np.random.default_rng(seed)
        return readout(res, [0.2, 0.7], 150e6, 0.25, 64, rng, noise_sigma=lab.noise_sigma)

    np.testing.assert_array_equal(run(lab.seed), run(lab.seed))
    assert not np.array_equal(run(lab.seed), run(lab.seed + 1))
