"""The physics of the simulated lab: drive pulses on transmons, and dispersive readout.

Pure numpy, deterministic given the ``numpy.random.Generator`` passed in. Times are integer
nanoseconds on the 1 GS/s sample grid; frequencies are Hz as in :mod:`.lab`.

**Drive.** A :class:`DrivePulse` reaching a qubit is the field
``Re[eps(t) exp(i (2 pi f_c (t - t0) + phi))]``: ``eps = I + jQ`` the envelope (fraction of full
scale, after gain, before the NCO), ``f_c`` the carrier (NCO + LO), ``phi`` the carrier's phase at
the pulse start ``t0`` in the lab frame, where every oscillator has phase 0 at ``t = 0`` (so an NCO
at ``f`` with no phase updates has ``phi = 2 pi f t0``). In the frame rotating with the qubit at
``f_q`` (phase 0 at ``t = 0``) and in the rotating-wave approximation the Bloch vector
``r = (x, y, z)``, ``z = +1`` in ``|0>``, obeys

    dr/dt = w(t) x r - (x / T2, y / T2, (z - 1) / T1)
    w(t)  = Omega * (Re d, Im d, 0),  d = eps(t) exp(i (2 pi Delta (t - t0) + phi - 2 pi f_q t0))

with ``Omega = 2 pi * rabi_frequency_per_amplitude`` and detuning ``Delta = f_c - f_q`` (carrier
minus qubit). A resonant square pulse of amplitude ``A`` and length ``T`` leaves
``P(|1>) = (1 - z) / 2 = sin^2(pi f_R A T)``; a detuned one the generalised Rabi formula.

Each pulse is integrated exactly for a piecewise-constant envelope (one sample per ns) in the
frame of its carrier, where ``w' = (Omega Re eps, Omega Im eps, -2 pi Delta)`` is constant per
sample: each sample is a rotation (Rodrigues) followed by that nanosecond's relaxation, written as
a 4x4 affine map on ``(x, y, z, 1)``. The samples' maps are composed by pairwise (tree) batched
matrix products, for all cache misses of one length at once. The carrier-frame map is cached on
(qubit, Delta, envelope bytes): the phase enters only as z rotations around it, so the same pulse
at another time or phase is a cache hit. Between pulses the qubit only relaxes (closed form).

Approximations: a two-level system (the anharmonicity is unused: no leakage to ``|2>``, so DRAG's
Q component only adds a small rotation, and no AC Stark shift); rotating-wave approximation;
Markovian T1/T2 (Bloch equations, Trotter-split per ns); a pulse's carrier frequency is constant
over the pulse; pulses on one qubit must not overlap; no crosstalk between drive lines.

**Readout.** A resonator is seen in transmission as a hanger dip of full depth:
``S(f) = 1 - (kappa/2) / (kappa/2 + i (f - f_s))``, with ``f_s`` the resonator frequency for
``|0>`` and ``f_s - dispersive_shift`` for ``|1>``, ``kappa`` the linewidth (Hz). One shot projects
the qubit (Bernoulli with ``P(|1>)``) and returns
``probe_amplitude * response_amplitude * S_state(f_probe) + noise``, the noise complex Gaussian
with ``noise_sigma`` per quadrature. Not modelled: decay during the readout, measurement-induced
dephasing, readout photons, the integration length's effect on noise, crosstalk between
multiplexed resonators (each acquisition sees only the resonator on its port), and correlations
between the bins of one repetition (each bin projects independently). A caller that models
measurement back-action (the simulated lab does, for feedback measurements: see
:mod:`.simulate`) samples the states itself, reads them out with :func:`readout_states`, and
continues the evolution from the projected state with ``evolve(..., initial=, start=)``, or
follows many shots at once with the affine maps of :func:`propagator`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from .lab import Qubit, Resonator

__all__ = [
    "EXCITED",
    "GROUND",
    "DrivePulse",
    "PropagatorCache",
    "evolve",
    "propagator",
    "readout",
    "readout_states",
    "resonator_response",
]

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]

NS = 1e-9
GROUND: Final = (0.0, 0.0, 1.0)
"""The Bloch vector of ``|0>`` (where :func:`evolve` starts by default)."""
EXCITED: Final = (0.0, 0.0, -1.0)
"""The Bloch vector of ``|1>``."""
_CacheKey = tuple[float, float, float, float, bytes]


@dataclass(frozen=True)
class DrivePulse:
    """One pulse as it reaches a qubit's drive line (see the module docstring for the field)."""

    start: int
    """First sample's time (ns); sample k covers [start + k, start + k + 1)."""
    envelope: ComplexArray
    """I + jQ per ns, after gain, as a fraction of full scale, before the NCO."""
    carrier_frequency: float
    """NCO + LO frequency (Hz): what reaches the qubit."""
    carrier_phase: float = 0.0
    """Carrier phase at ``start`` (radians), lab frame: ``2 pi f t0`` plus any NCO phase set."""

    @property
    def end(self) -> int:
        return self.start + len(self.envelope)


@dataclass
class PropagatorCache:
    """Carrier-frame propagators of pulses, keyed on (qubit, detuning, envelope); FIFO-bounded.

    Keep one per lab and pass it to every :func:`evolve` call: repeated pulses then cost a dict
    lookup. ``hits`` and ``misses`` count lookups."""

    max_entries: int = 4096
    hits: int = 0
    misses: int = 0
    _maps: dict[_CacheKey, FloatArray] = field(default_factory=dict, repr=False)

    def get(self, key: _CacheKey) -> FloatArray | None:
        found = self._maps.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: _CacheKey, value: FloatArray) -> None:
        if len(self._maps) >= self.max_entries:
            del self._maps[next(iter(self._maps))]
        self._maps[key] = value

    def __len__(self) -> int:
        return len(self._maps)


def _z_rotation(theta: float) -> FloatArray:
    c, s = np.cos(theta), np.sin(theta)
    out = np.eye(4)
    out[0, 0], out[0, 1], out[1, 0], out[1, 1] = c, -s, s, c
    return out


def _sample_maps(qubit: Qubit, envelopes: ComplexArray, detunings: FloatArray) -> FloatArray:
    """Per-sample affine maps (..., N, 4, 4) in each pulse's carrier frame.

    ``envelopes`` is (P, N), ``detunings`` (P,)."""
    omega = 2 * np.pi * qubit.rabi_frequency_per_amplitude
    wx = omega * envelopes.real
    wy = omega * envelopes.imag
    wz = np.broadcast_to((-2 * np.pi * detunings)[:, None], wx.shape)
    norm = np.sqrt(wx**2 + wy**2 + wz**2)
    safe = np.where(norm > 0, norm, 1.0)
    nx, ny, nz = wx / safe, wy / safe, wz / safe
    angle = norm * NS
    sin, one_cos = np.sin(angle), 1 - np.cos(angle)
    # Rodrigues: R = I + sin(a) K + (1 - cos a) K^2, K = [n]x; dr/dt = w x r.
    k = np.zeros((*wx.shape, 3, 3))
    k[..., 0, 1], k[..., 0, 2] = -nz, ny
    k[..., 1, 0], k[..., 1, 2] = nz, -nx
    k[..., 2, 0], k[..., 2, 1] = -ny, nx
    rot = np.eye(3) + sin[..., None, None] * k + one_cos[..., None, None] * (k @ k)
    e1, e2 = np.exp(-NS / qubit.t1), np.exp(-NS / qubit.t2)
    maps = np.zeros((*wx.shape, 4, 4))
    maps[..., :3, :3] = np.array([e2, e2, e1])[:, None] * rot  # relax after rotating
    maps[..., 2, 3] = 1 - e1
    maps[..., 3, 3] = 1.0
    return maps


def _compose(maps: FloatArray) -> FloatArray:
    """The product (last @ ... @ first) over axis -3, by pairwise batched products."""
    while maps.shape[-3] > 1:
        if maps.shape[-3] % 2:
            pad = np.broadcast_to(np.eye(4), (*maps.shape[:-3], 1, 4, 4))
            maps = np.concatenate([maps, pad], axis=-3)
        maps = maps[..., 1::2, :, :] @ maps[..., 0::2, :, :]
    return maps[..., 0, :, :]


def _key(qubit: Qubit, detuning: float, envelope: ComplexArray) -> _CacheKey:
    rates = (qubit.rabi_frequency_per_amplitude, qubit.t1, qubit.t2)
    return (*rates, detuning, np.ascontiguousarray(envelope, dtype=np.complex128).tobytes())


def _carrier_maps(
    qubit: Qubit, pulses: Sequence[DrivePulse], cache: PropagatorCache
) -> list[FloatArray]:
    """Each pulse's carrier-frame propagator; misses are computed in one batch per length."""
    found: list[FloatArray | None] = []
    pending: dict[_CacheKey, list[int]] = {}  # this call's misses, computed below
    for i, pulse in enumerate(pulses):
        key = _key(qubit, pulse.carrier_frequency - qubit.frequency, pulse.envelope)
        if key in pending:
            cache.hits += 1
            pending[key].append(i)
            found.append(None)
            continue
        hit = cache.get(key)
        found.append(hit)
        if hit is None:
            pending[key] = [i]
    missing: dict[int, dict[_CacheKey, list[int]]] = {}
    for key, idx in pending.items():
        missing.setdefault(len(pulses[idx[0]].envelope), {})[key] = idx
    for group in missing.values():
        firsts = [pulses[idx[0]] for idx in group.values()]
        envelopes = np.stack([p.envelope for p in firsts])
        detunings = np.array([p.carrier_frequency - qubit.frequency for p in firsts])
        composed = _compose(_sample_maps(qubit, envelopes, detunings))
        for (key, idx), value in zip(group.items(), composed, strict=True):
            cache.put(key, value)
            for i in idx:
                found[i] = value
    return [m if m is not None else np.eye(4) for m in found]


def _frame(qubit: Qubit, pulse: DrivePulse, carrier_map: FloatArray, samples: int) -> FloatArray:
    """The qubit-frame map of the pulse's first ``samples`` samples from its carrier-frame map."""
    detuning = pulse.carrier_frequency - qubit.frequency
    phase = pulse.carrier_phase - 2 * np.pi * qubit.frequency * pulse.start * NS
    end_phase = phase + 2 * np.pi * detuning * samples * NS
    return _z_rotation(end_phase) @ carrier_map @ _z_rotation(-phase)


def _relax(qubit: Qubit, state: FloatArray, ns: npt.NDArray[np.int64] | int) -> FloatArray:
    """Free relaxation (no precession in the qubit frame) over ``ns``; broadcasts over times."""
    tau = np.asarray(ns, dtype=np.float64)[..., None] * NS
    decay = np.concatenate(
        [np.exp(-tau / qubit.t2), np.exp(-tau / qubit.t2), np.exp(-tau / qubit.t1)], axis=-1
    )
    out = np.empty((*tau.shape[:-1], 4))
    out[..., :3] = state[:3] * decay
    out[..., 2] += 1 - decay[..., 2]
    out[..., 3] = 1.0
    return out


def evolve(
    qubit: Qubit,
    pulses: Sequence[DrivePulse],
    measure_times: Sequence[int] | npt.NDArray[np.int64],
    *,
    cache: PropagatorCache | None = None,
    initial: Sequence[float] = GROUND,
    start: int = 0,
) -> FloatArray:
    """The qubit's excited-state probability at each of ``measure_times`` (ns, any order).

    The qubit starts in the Bloch vector ``initial`` (``(x, y, z)`` in the qubit frame, ``z = +1``
    in ``|0>``; :data:`GROUND` or :data:`EXCITED` after a projective measurement) at ``start``
    ns: by default in ``|0>`` at t = 0. Pulses and measure times must not be earlier than
    ``start`` (ValueError). A measurement at a pulse's start sees the state before the pulse, at
    its end the state after it, in between the state part-way through. Pulses must not overlap
    (ValueError). ``cache``: keep one across calls (a fresh one otherwise)."""
    cache = PropagatorCache() if cache is None else cache
    times = np.asarray(measure_times, dtype=np.int64).reshape(-1)
    if times.size and times.min() < start:
        raise ValueError(f"measure times must be >= {start} ns")
    ordered = sorted((p for p in pulses if len(p.envelope)), key=lambda p: p.start)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise ValueError(f"pulses at {before.start} ns and {after.start} ns overlap")
    if ordered and ordered[0].start < start:
        raise ValueError(f"pulses must start at t >= {start} ns")
    if len(initial) != 3:
        raise ValueError("initial is a Bloch vector (x, y, z)")
    carrier = _carrier_maps(qubit, ordered, cache)

    order = np.argsort(times, kind="stable")
    sorted_t = times[order]
    z = np.empty(times.size)
    state = np.array([*initial, 1.0], dtype=np.float64)
    now, j = start, 0
    for pulse, cmap in zip(ordered, carrier, strict=True):
        k = int(np.searchsorted(sorted_t, pulse.start, side="right"))
        z[j:k] = _relax(qubit, state, sorted_t[j:k] - now)[:, 2]
        state = _relax(qubit, state, pulse.start - now)
        j = int(np.searchsorted(sorted_t, pulse.end, side="left"))
        for m in range(k, j):  # measurements inside the pulse: rare, uncached
            n = int(sorted_t[m]) - pulse.start
            part = _compose(_sample_maps(qubit, pulse.envelope[None, :n], _detuning(qubit, pulse)))
            z[m] = (_frame(qubit, pulse, part[0], n) @ state)[2]
        state = _frame(qubit, pulse, cmap, len(pulse.envelope)) @ state
        now = pulse.end
    z[j:] = _relax(qubit, state, sorted_t[j:] - now)[:, 2]
    out = np.empty(times.size)
    out[order] = np.clip((1 - z) / 2, 0.0, 1.0)
    return out


def propagator(
    qubit: Qubit,
    pulses: Sequence[DrivePulse],
    start: int,
    stop: int,
    *,
    cache: PropagatorCache | None = None,
) -> FloatArray:
    """The affine map (4x4 on ``(x, y, z, 1)``, qubit frame) that takes the Bloch vector at
    ``start`` ns to the one at ``stop`` under ``pulses``, which must start in ``[start, stop)``
    and not overlap (ValueError); one still playing at ``stop`` counts up to it. The same
    physics as :func:`evolve` (``evolve(..., initial=r, start=start)`` at ``stop`` is the z of
    ``map @ (*r, 1)``), as a map: a caller that follows many states through the same stretch
    (every shot of a job with feedback) applies it to all of them at once."""
    cache = PropagatorCache() if cache is None else cache
    ordered = sorted((p for p in pulses if len(p.envelope)), key=lambda p: p.start)
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise ValueError(f"pulses at {before.start} ns and {after.start} ns overlap")
    if ordered and (ordered[0].start < start or ordered[-1].start >= stop):
        raise ValueError(f"pulses must start in [{start}, {stop}) ns")
    out = np.eye(4)
    now = start
    for pulse, cmap in zip(ordered, _carrier_maps(qubit, ordered, cache), strict=True):
        out = _relax_map(qubit, pulse.start - now) @ out
        n = min(len(pulse.envelope), stop - pulse.start)
        if n < len(pulse.envelope):  # cut at stop: rare, uncached
            envelope = pulse.envelope[None, :n]
            cmap = _compose(_sample_maps(qubit, envelope, _detuning(qubit, pulse)))[0]
        out = _frame(qubit, pulse, cmap, n) @ out
        now = pulse.start + n
    return _relax_map(qubit, stop - now) @ out


def _relax_map(qubit: Qubit, ns: int) -> FloatArray:
    """Free relaxation over ``ns`` as an affine map (see :func:`_relax`)."""
    e1, e2 = np.exp(-ns * NS / qubit.t1), np.exp(-ns * NS / qubit.t2)
    out = np.diag([e2, e2, e1, 1.0])
    out[2, 3] = 1 - e1
    return out


def _detuning(qubit: Qubit, pulse: DrivePulse) -> FloatArray:
    return np.array([pulse.carrier_frequency - qubit.frequency])


def resonator_response(resonator: Resonator, frequency: float, excited: bool) -> complex:
    """The hanger transmission S(f) of the resonator with its qubit in ``|1>`` or ``|0>``."""
    centre = resonator.frequency - (resonator.dispersive_shift if excited else 0.0)
    half = resonator.linewidth / 2
    return complex(1 - half / (half + 1j * (frequency - centre)))


def readout(
    resonator: Resonator,
    p_excited: npt.ArrayLike,
    probe_frequency: float,
    probe_amplitude: float,
    shots: int,
    rng: np.random.Generator,
    *,
    noise_sigma: float,
) -> ComplexArray:
    """Single-shot IQ values, shape ``(len(p_excited), shots)``: average over axis 1 for
    average mode, keep them for append mode. Draws from ``rng``: the states, then the noise."""
    p = np.asarray(p_excited, dtype=np.float64).reshape(-1)
    states = rng.random((p.size, shots)) < p[:, None]
    return readout_states(
        resonator, states, probe_frequency, probe_amplitude, rng, noise_sigma=noise_sigma
    )


def readout_states(
    resonator: Resonator,
    states: npt.NDArray[np.bool_],
    probe_frequency: float,
    probe_amplitude: float,
    rng: np.random.Generator,
    *,
    noise_sigma: float,
) -> ComplexArray:
    """Single-shot IQ values of shots whose states are known (True: ``|1>``), any shape: the
    readout of a qubit already projected. Draws only the noise from ``rng``."""
    scale = probe_amplitude * resonator.response_amplitude
    ground = scale * resonator_response(resonator, probe_frequency, excited=False)
    excited = scale * resonator_response(resonator, probe_frequency, excited=True)
    iq: ComplexArray = np.where(states, excited, ground)
    noise = rng.standard_normal((*states.shape, 2))
    iq += noise_sigma * noise.view(np.complex128)[..., 0]
    return iq
