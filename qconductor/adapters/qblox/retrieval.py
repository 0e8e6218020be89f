"""The driver's acquisition dicts -> one numpy array per acquisition channel. Pure: no driver.

Input, per (slot, sequencer): what qblox-instruments' ``Cluster.get_acquisitions(slot, seq)``
returns, ``{name: {"index": i, "acquisition": {"scope": {"path0": {"data", "out-of-range",
"avg_cnt"}, "path1": ...}, "bins": {"integration": {"path0", "path1"}, "threshold",
"avg_cnt"}}}}``. The driver (1.4, ``native/cluster.py``: ``_read_bin_raw_data_async`` and
``_get_acq_data_and_convert_async``) has already

* divided each bin's integration sums and threshold count by the bin's ``avg_cnt``, so an
  average-mode bin holds the mean over repetitions and an append-mode bin its one value;
* scaled the integration sums to fractions of full scale per sample (÷ 2**22: 12-bit samples
  times 12-bit demodulation or weights), and marked bins never written as NaN (``avg_cnt`` 0);
* scaled the scope to fractions of full scale (÷ 2**11) and divided it by its own average
  count, so the trace is the mean over the scope's triggers.

What a channel becomes (average mode: shape ``(num_bins,)``; append: ``(repetitions,
num_bins)``, row ``r`` = repetition ``r``):

``ssb_integration``
    complex128, ``(I + jQ) / integration_length``: the mean demodulated sample, a fraction
    of the input's full scale (independent of the integration length).
``weighted_integration``
    the weighted *sum*, not normalised: ``sum_k w_I[k] x_I[k] + j sum_k w_Q[k] x_Q[k]``
    (complex128), or ``I + Q`` when ``summed`` (float64). This is quantify-scheduler's
    convention for numerical weights, and the only one that stays linear in the weights: a
    projection onto optimal weights keeps its meaning whatever their scale, and no choice of
    denominator (sum of ``|w|``, or of ``w**2``) is defined for every weight (zeros) or
    agrees between the two paths. Weights of all ones give the SSB result times the length.
``thresholded``
    float64: 0.0 or 1.0 per bin in append mode, the fraction of 1s in average mode.
``trigger_count``
    float64 counts. The QRM counts every trigger in the window in the bin's ``avg_cnt``, over
    all repetitions: average mode returns ``avg_cnt / repetitions`` (the mean count per
    repetition), append mode the count of each repetition. A bin that saw no trigger is never
    written, so it reads 0 (not NaN), also from a dummy cluster.
``trace``
    complex128 of shape ``(duration,)``: ``path0 + j path1`` as the driver returns it, i.e.
    the raw input as a fraction of its full scale (at the input gain in use; ±0.5 V at 0 dB
    on a QRM), averaged over repetitions. Not volts, because the input gain changes the
    scale. A dummy cluster returns no scope samples unless injected: the trace is NaN then.

NaN (a dummy's unset bins) passes through every binned kind except the counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from qconductor.adapters.base import AcquisitionData, ChannelData
from qconductor.protocol.compiled import AcquisitionSpec
from qconductor.protocol.errors import ErrorCode, QconductorError

__all__ = [
    "convert_acquisitions",
    "convert_channel",
    "integrations_to_complex",
    "scope_targets",
    "scope_trace",
]


def integrations_to_complex(
    path0: npt.ArrayLike, path1: npt.ArrayLike, integration_length: int = 1
) -> npt.NDArray[np.complex128]:
    """Binned integration results (I, Q) -> ``(I + 1j*Q) / integration_length``.
    NaN (a dummy's unset bins) passes through, in the part where it was."""
    i, q = np.asarray(path0, dtype=np.float64), np.asarray(path1, dtype=np.float64)
    if i.ndim != 1 or i.shape != q.shape:
        raise ValueError(f"path0 and path1 must be 1-d of one length, got {i.shape}, {q.shape}")
    out = np.empty(i.shape, dtype=np.complex128)  # parts set apart: a NaN stays in its own part
    out.real, out.imag = i / integration_length, q / integration_length
    return out


def scope_trace(scope: Mapping[str, Any], length: int) -> npt.NDArray[np.complex128]:
    """The first ``length`` scope samples as ``path0 + 1j*path1``; NaN if the scope is empty
    (a dummy without injected scope data)."""
    i = np.asarray(scope["path0"]["data"], dtype=np.float64)
    q = np.asarray(scope["path1"]["data"], dtype=np.float64)
    if i.size == 0 and q.size == 0:
        return np.full(length, complex(np.nan, np.nan), dtype=np.complex128)
    if i.ndim != 1 or i.shape != q.shape or i.size < length:
        raise ValueError(f"scope paths of {i.shape} and {q.shape} samples, need {length}")
    return integrations_to_complex(i[:length], q[:length])


def _binned(spec: AcquisitionSpec, bins: Mapping[str, Any]) -> ChannelData:
    """The flat bins of one channel (``hardware_bins`` long), converted for its kind."""
    if spec.kind == "thresholded":
        return np.asarray(bins["threshold"], dtype=np.float64)
    if spec.kind == "trigger_count":
        counts = np.asarray(bins["avg_cnt"], dtype=np.float64)
        return counts / spec.repetitions if spec.bin_mode == "average" else counts
    paths = bins["integration"]
    if spec.kind == "ssb_integration":
        return integrations_to_complex(paths["path0"], paths["path1"], spec.integration_length)
    summed_paths = np.asarray(paths["path0"], dtype=np.float64) + np.asarray(
        paths["path1"], dtype=np.float64
    )
    return summed_paths if spec.summed else integrations_to_complex(paths["path0"], paths["path1"])


def convert_channel(spec: AcquisitionSpec, entry: Mapping[str, Any]) -> ChannelData:
    """One channel's entry of ``get_acquisitions`` -> its array (see the module docstring).

    Raises ``ValueError`` (bin count, path shapes) or ``KeyError`` (a missing field)."""
    acquisition = entry["acquisition"]
    if spec.kind == "trace":
        return scope_trace(acquisition["scope"], spec.integration_length)
    data = _binned(spec, acquisition["bins"])
    if data.shape != (spec.hardware_bins,):
        raise ValueError(f"returned {data.shape[0]} bins, expected {spec.hardware_bins} bins")
    if spec.bin_mode == "append":
        return data.reshape(spec.repetitions, spec.num_bins)
    return data


def scope_targets(specs: Sequence[AcquisitionSpec]) -> list[tuple[int, int, str]]:
    """(slot, sequencer, acquisition name) of every trace: the scope must be stored into the
    acquisition (``store_scope_acquisition``) before ``get_acquisitions`` shows it."""
    return sorted({(s.slot, s.sequencer, s.acq_name) for s in specs if s.kind == "trace"})


def convert_acquisitions(
    specs: Sequence[AcquisitionSpec], raw: Mapping[tuple[int, int], Mapping[str, Any]]
) -> AcquisitionData:
    """``raw``: (slot, sequencer) -> what the driver's ``get_acquisitions`` returned."""
    out: AcquisitionData = {}
    for spec in specs:
        entry = raw.get((spec.slot, spec.sequencer), {}).get(spec.acq_name)
        try:
            if entry is None:
                raise ValueError("returned nothing")
            out[spec.acq_channel] = convert_channel(spec, entry)
        except (KeyError, TypeError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else f"lacks the field {exc}"
            raise QconductorError(
                ErrorCode.INSTRUMENT_ERROR,
                f"cluster {spec.cluster} slot {spec.slot} sequencer {spec.sequencer}: "
                f"{spec.kind} acquisition {spec.acq_name!r} {reason}",
                f"acquisitions[{spec.acq_channel}]",
            ) from exc
    return out
