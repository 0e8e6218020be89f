"""Binned integration results -> complex averages: the adapter's pure conversion, no driver."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qconductor.adapters.qblox.instrument import convert_acquisitions, integrations_to_complex
from qconductor.protocol.compiled import AcquisitionSpec
from qconductor.protocol.errors import ErrorCode, QconductorError


def spec(channel: int = 0, *, sequencer: int = 0, name: str = "acq0", bins: int = 3) -> Any:
    return AcquisitionSpec(
        acq_channel=channel,
        kind="ssb_integration",
        bin_mode="average",
        num_bins=bins,
        cluster="cl0",
        slot=4,
        sequencer=sequencer,
        acq_name=name,
        acq_index=0,
        integration_length=200,
        port="q0:res",
        clock="q0.ro",
    )


def driver_entry(path0: list[float], path1: list[float]) -> dict[str, Any]:
    """The shape of one acquisition in the driver's ``get_acquisitions`` answer."""
    return {
        "index": 0,
        "acquisition": {
            "scope": {},
            "bins": {
                "integration": {"path0": path0, "path1": path1},
                "threshold": [0.0] * len(path0),
                "avg_cnt": [1] * len(path0),
            },
        },
    }


def test_sums_become_complex_averages() -> None:
    data = integrations_to_complex([20.0, -4.0, 0.0], [10.0, 2.0, 0.0], 20)

    assert data.dtype == np.complex128
    assert data.shape == (3,)
    np.testing.assert_array_equal(data, [1.0 + 0.5j, -0.2 + 0.1j, 0.0])


def test_nan_passes_through() -> None:
    data = integrations_to_complex([float("nan"), 4.0], [1.0, float("nan")], 4)

    assert np.isnan(data[0].real)
    assert data[0].imag == pytest.approx(0.25)
    assert data[1].real == pytest.approx(1.0)
    assert np.isnan(data[1].imag)


def test_empty_bins_give_an_empty_array() -> None:
    assert integrations_to_complex([], [], 100).shape == (0,)


@pytest.mark.parametrize(
    ("path0", "path1"), [([1.0, 2.0], [1.0]), ([[1.0]], [[1.0]])], ids=["lengths", "not-1d"]
)
def test_malformed_paths_are_refused(path0: Any, path1: Any) -> None:
    with pytest.raises(ValueError, match="1-d of one length"):
        integrations_to_complex(path0, path1, 10)


def test_convert_acquisitions_maps_channels_to_their_sequencers() -> None:
    specs = [spec(0, sequencer=0), spec(1, sequencer=1, name="acq1", bins=2)]
    raw = {
        (4, 0): {"acq0": driver_entry([200.0, 400.0, 0.0], [0.0, -200.0, 600.0])},
        (4, 1): {"acq1": driver_entry([2.0, 4.0], [6.0, 8.0])},
    }

    data = convert_acquisitions(specs, raw)

    assert sorted(data) == [0, 1]
    np.testing.assert_allclose(data[0], [1.0, 2.0 - 1.0j, 3.0j])
    np.testing.assert_allclose(data[1], [0.01 + 0.03j, 0.02 + 0.04j])


def test_a_missing_acquisition_names_the_channel() -> None:
    with pytest.raises(QconductorError) as caught:
        convert_acquisitions([spec(5, name="other")], {(4, 0): {"acq0": driver_entry([], [])}})

    assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
    assert caught.value.path == "acquisitions[5]"
    assert "'other' returned nothing" in caught.value.message


def test_a_wrong_bin_count_is_an_instrument_error() -> None:
    raw = {(4, 0): {"acq0": driver_entry([1.0, 2.0], [0.0, 0.0])}}

    with pytest.raises(QconductorError) as caught:
        convert_acquisitions([spec(bins=3)], raw)

    assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
    assert "returned 2 bins, expected 3 bins" in caught.value.message
