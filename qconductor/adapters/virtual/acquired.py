"""What an acquisition returns from its single-shot values: per kind (integration, weighted,
thresholded, trace, trigger count) and bin mode (see :mod:`.simulate`)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from qconductor.adapters.virtual.lab import Lab
from qconductor.adapters.virtual.sequencers import (
    ComplexArray,
    FloatArray,
    Sequencer,
)
from qconductor.adapters.virtual.trace import Event
from qconductor.protocol.compiled import (
    AcquisitionSpec,
    SequencerSettings,
)


def acquires(event: Event) -> bool:
    return event.kind.startswith("acquire") and event.kind != "acquire_ttl_close"


def acquisition_positions(events: list[Event], spec: AcquisitionSpec) -> list[int]:
    """Where the acquisitions of ``spec`` are in a sequencer's first repetition."""
    return [k for k, e in enumerate(events) if acquires(e) and e.acq_index == spec.acq_index]


def dark(spec: AcquisitionSpec, shots: int) -> FloatArray:
    """A trigger count: the lab has no photon source, so the detector stays dark."""
    if spec.bin_mode == "append":
        return np.zeros((shots, spec.num_bins))
    return np.zeros(spec.num_bins)


def noise(lab: Lab, shots: int, rng: np.random.Generator) -> ComplexArray:
    """What a port without a resonator integrates: the noise alone."""
    noise = (rng.normal(size=shots) + 1j * rng.normal(size=shots)) * lab.noise_sigma
    return np.asarray(noise, dtype=np.complex128)


def reduce(
    values: ComplexArray, spec: AcquisitionSpec, seq: Sequencer, positions: list[int]
) -> npt.NDArray[np.complex128] | npt.NDArray[np.float64]:
    """Single-shot values to what the acquisition returns: per its kind and bin mode."""
    events = seq.events
    if spec.kind == "trace":
        return _trace(values, spec)
    if spec.kind == "thresholded":
        values = threshold(values, seq.program.settings)
    elif spec.kind == "weighted_integration":
        values = values * np.array([_weight_scale(events[k]) for k in positions])[:, None]
        if spec.summed:
            values = (values.real + values.imag).astype(np.complex128)
    return _bins(values, spec, [events[k].bin or 0 for k in positions])


def _weight_scale(event: Event) -> float:
    if event.weight_data is None:
        return 1.0
    return float(np.mean(np.abs(event.weight_data[0])))


def threshold(values: ComplexArray, settings: SequencerSettings) -> ComplexArray:
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
