"""The driver's acquisition dicts -> arrays, for every kind and bin mode: pure, no driver.

The hand-written dicts have the shape qblox-instruments 1.4's ``get_acquisitions`` returns
(values already divided by each bin's ``avg_cnt``; NaN and ``avg_cnt`` 0 for unwritten bins).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qconductor.adapters.qblox.retrieval import (
    convert_acquisitions,
    convert_channel,
    integrations_to_complex,
    scope_targets,
)
from qconductor.protocol.compiled import AcquisitionKind, AcquisitionSpec
from qconductor.protocol.errors import ErrorCode, QconductorError

NAN = float("nan")


def spec(
    kind: AcquisitionKind = "ssb_integration",
    channel: int = 0,
    *,
    bins: int = 3,
    bin_mode: str = "average",
    repetitions: int = 1,
    sequencer: int = 0,
    name: str = "acq0",
    length: int = 200,
    summed: bool = False,
) -> AcquisitionSpec:
    return AcquisitionSpec.model_validate(
        {
            "acq_channel": channel,
            "kind": kind,
            "bin_mode": bin_mode,
            "num_bins": bins,
            "repetitions": repetitions,
            "summed": summed,
            "cluster": "cl0",
            "slot": 4,
            "sequencer": sequencer,
            "acq_name": name,
            "acq_index": 0,
            "integration_length": length,
            "port": "q0:res",
            "clock": "q0.ro",
        }
    )


def entry(
    path0: list[float],
    path1: list[float] | None = None,
    *,
    threshold: list[float] | None = None,
    avg_cnt: list[int] | None = None,
    scope: tuple[list[float], list[float]] = ([], []),
) -> dict[str, Any]:
    """One acquisition of the driver's ``get_acquisitions`` answer."""
    n = len(path0)
    return {
        "index": 0,
        "acquisition": {
            "scope": {
                f"path{p}": {"data": data, "out-of-range": False, "avg_cnt": 1}
                for p, data in enumerate(scope)
            },
            "bins": {
                "integration": {"path0": path0, "path1": path1 if path1 is not None else path0},
                "threshold": threshold if threshold is not None else [0.0] * n,
                "avg_cnt": avg_cnt if avg_cnt is not None else [1] * n,
            },
        },
    }


def test_sums_become_complex_averages() -> None:
    data = integrations_to_complex([20.0, -4.0, 0.0], [10.0, 2.0, 0.0], 20)

    assert data.dtype == np.complex128
    np.testing.assert_array_equal(data, [1.0 + 0.5j, -0.2 + 0.1j, 0.0])


def test_nan_passes_through_in_its_own_part() -> None:
    data = integrations_to_complex([NAN, 4.0], [1.0, NAN], 4)

    assert np.isnan(data[0].real)
    assert data[0].imag == pytest.approx(0.25)
    assert data[1].real == pytest.approx(1.0)
    assert np.isnan(data[1].imag)


@pytest.mark.parametrize(
    ("path0", "path1"), [([1.0, 2.0], [1.0]), ([[1.0]], [[1.0]])], ids=["lengths", "not-1d"]
)
def test_malformed_paths_are_refused(path0: Any, path1: Any) -> None:
    with pytest.raises(ValueError, match="1-d of one length"):
        integrations_to_complex(path0, path1, 10)


def test_ssb_average_is_divided_by_the_integration_length() -> None:
    data = convert_channel(spec(length=200), entry([200.0, 400.0, NAN], [0.0, -200.0, 600.0]))

    assert data.dtype == np.complex128
    assert data.shape == (3,)
    np.testing.assert_allclose(data[:2], [1.0, 2.0 - 1.0j])
    assert np.isnan(data[2].real)
    assert data[2].imag == pytest.approx(3.0)


def test_append_mode_is_one_row_per_repetition() -> None:
    path0 = [float(k) for k in range(6)]  # repetition-major: r0b0 r0b1 r0b2 r1b0 ...
    s = spec(bins=3, bin_mode="append", repetitions=2, length=1)

    data = convert_channel(s, entry(path0, [0.0] * 6))

    assert data.shape == (2, 3)
    np.testing.assert_array_equal(data.real, [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize("bin_mode", ["average", "append"])
def test_weighted_separated_is_the_unnormalised_complex_sum(bin_mode: str) -> None:
    s = spec("weighted_integration", bins=2, bin_mode=bin_mode, length=0)
    data = convert_channel(s, entry([12.5, NAN], [-3.0, 1.0]))

    assert data.dtype == np.complex128
    flat = data.reshape(-1)
    assert flat[0] == 12.5 - 3.0j  # not divided by anything
    assert np.isnan(flat[1].real)
    assert flat[1].imag == 1.0


def test_weighted_summed_adds_the_paths_into_reals() -> None:
    s = spec("weighted_integration", bins=3, summed=True)
    data = convert_channel(s, entry([1.0, 2.5, NAN], [0.5, -2.5, 1.0]))

    assert data.dtype == np.float64
    np.testing.assert_array_equal(data[:2], [1.5, 0.0])
    assert np.isnan(data[2])


def test_thresholded_average_is_the_fraction_of_ones_append_the_states() -> None:
    average = convert_channel(
        spec("thresholded", bins=3), entry([0.0] * 3, threshold=[0.25, 1.0, NAN])
    )
    append = convert_channel(
        spec("thresholded", bins=2, bin_mode="append", repetitions=2),
        entry([0.0] * 4, threshold=[1.0, 0.0, 0.0, 1.0]),
    )

    assert average.dtype == append.dtype == np.float64
    np.testing.assert_array_equal(average[:2], [0.25, 1.0])
    assert np.isnan(average[2])
    np.testing.assert_array_equal(append, [[1.0, 0.0], [0.0, 1.0]])


def test_trigger_counts_average_is_per_repetition_append_is_each_count() -> None:
    counts = [40, 0, 7]  # the hardware's accumulated count per bin; 0 = no trigger, never written
    average = convert_channel(
        spec("trigger_count", repetitions=10), entry([NAN] * 3, avg_cnt=counts)
    )
    append = convert_channel(
        spec("trigger_count", bins=1, bin_mode="append", repetitions=3),
        entry([NAN] * 3, avg_cnt=counts),
    )

    assert average.dtype == np.float64
    np.testing.assert_allclose(average, [4.0, 0.0, 0.7])
    np.testing.assert_array_equal(append, [[40.0], [0.0], [7.0]])


def test_trace_is_the_first_samples_of_the_scope() -> None:
    scope = ([0.1, 0.2, 0.3, 0.4, 0.5], [-0.1, 0.0, NAN, 0.1, 0.2])
    data = convert_channel(spec("trace", bins=1, length=4), entry([NAN], scope=scope))

    assert data.dtype == np.complex128
    assert data.shape == (4,)
    np.testing.assert_allclose(data[:2], [0.1 - 0.1j, 0.2])
    assert data[2].real == pytest.approx(0.3)
    assert np.isnan(data[2].imag)


def test_an_empty_scope_gives_a_nan_trace() -> None:
    data = convert_channel(spec("trace", bins=1, length=8), entry([NAN]))

    assert data.shape == (8,)
    assert np.isnan(data.real).all()
    assert np.isnan(data.imag).all()


def test_scope_targets_name_every_trace_once() -> None:
    specs = [spec("trace", 0, sequencer=2, name="3"), spec("ssb_integration", 1, name="0")]

    assert scope_targets(specs) == [(4, 2, "3")]


def test_convert_acquisitions_maps_channels_to_their_sequencers() -> None:
    specs = [spec(channel=0, sequencer=0), spec("thresholded", 1, sequencer=1, name="a", bins=2)]
    raw = {
        (4, 0): {"acq0": entry([200.0, 400.0, 0.0], [0.0, -200.0, 600.0])},
        (4, 1): {"a": entry([0.0, 0.0], threshold=[0.5, 0.0])},
    }

    data = convert_acquisitions(specs, raw)

    assert sorted(data) == [0, 1]
    np.testing.assert_allclose(data[0], [1.0, 2.0 - 1.0j, 3.0j])
    np.testing.assert_array_equal(data[1], [0.5, 0.0])


@pytest.mark.parametrize(
    ("the_spec", "raw", "reason"),
    [
        (spec(channel=5, name="other"), {(4, 0): {"acq0": entry([])}}, "'other' returned nothing"),
        (spec(bins=3), {(4, 0): {"acq0": entry([1.0, 2.0])}}, "returned 2 bins, expected 3 bins"),
        (
            spec(bins=2, bin_mode="append", repetitions=2),
            {(4, 0): {"acq0": entry([1.0, 2.0])}},
            "returned 2 bins, expected 4 bins",
        ),
        (spec("trace", length=16), {(4, 0): {"acq0": entry([], scope=([0.0], [0.0]))}}, "need 16"),
        (spec(), {(4, 0): {"acq0": {"index": 0, "acquisition": {}}}}, "lacks the field 'bins'"),
    ],
    ids=["missing", "bins", "append-bins", "short-scope", "no-bins"],
)
def test_unusable_driver_data_is_an_instrument_error(
    the_spec: AcquisitionSpec, raw: dict[tuple[int, int], Any], reason: str
) -> None:
    with pytest.raises(QconductorError) as caught:
        convert_acquisitions([the_spec], raw)

    assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
    assert caught.value.path == f"acquisitions[{the_spec.acq_channel}]"
    assert reason in caught.value.message
