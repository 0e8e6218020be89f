"""Every acquisition kind through the real dummy cluster: a compiled job armed, run and read back.

The driver's dummy validates every setting the job carries (thresholds, TTL input and level,
scope parameters) like a real cluster, and returns injected bins and scope data through its own
``get_acquisitions`` scaling; ``retrieve`` must hand back each kind converted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from qblox_instruments import DummyBinnedAcquisitionData, DummyScopeAcquisitionData

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.instrument import QbloxClusterAdapter
from qconductor.daemon.jobs import Job, JobState
from qconductor.daemon.summary import job_result
from qconductor.protocol.client import JobResult
from qconductor.protocol.codec import decode, encode
from qconductor.protocol.compiled import AcquisitionSpec, CompiledJob
from qconductor.protocol.schedule import Schedule
from tests.unit.compiler.test_acquisitions import (
    TTL_LEVEL,
    acquisition_hardware,
    sched,
    ssb,
    thresholded,
    trace,
    ttl,
    weighted,
)

pytestmark = pytest.mark.anyio

REPS = 4
TRACE_NS = 1000


def every_kind() -> Schedule:
    s = sched(REPS)
    s.add(ssb(coords={"amp": 0.1}), at=100)  # channel 0, bins 0 and 1 averaged
    s.add(ssb(bin_index=1, coords={"amp": 0.2, "label": "b"}), at=700)
    s.add(weighted(200, acq_channel=4), at=1300)
    s.add(weighted(200, acq_channel=5, summed=True, bin_mode="append"), at=1700)
    s.add(thresholded(bin_mode="append"), at=100)  # channel 1, 2 bins per repetition
    s.add(thresholded(bin_mode="append", bin_index=1), at=900)
    s.add(ttl(), at=200)  # channel 2, 2 bins
    s.add(ttl(bin_index=1), at=1000)
    s.add(trace(duration=TRACE_NS), at=300)  # channel 3
    return s


@pytest.fixture
def job() -> CompiledJob:
    return compile_schedule(every_kind(), acquisition_hardware())


@pytest.fixture
async def adapter() -> AsyncIterator[QbloxClusterAdapter]:
    instrument = QbloxClusterAdapter("cluster0", dummy_modules={2: "QRM", 3: "QRM"}, timeout_s=10)
    await instrument.open()
    try:
        yield instrument
    finally:
        await instrument.close()


def specs_of(job: CompiledJob) -> dict[int, AcquisitionSpec]:
    return {a.acq_channel: a for a in job.acquisitions}


def bins(values: list[tuple[float, float, float, int] | None]) -> list[Any]:
    """Dummy bins from (I, Q, threshold, avg_cnt); None: never written."""
    return [
        None if v is None else DummyBinnedAcquisitionData(data=v[:2], thres=v[2], avg_cnt=v[3])
        for v in values
    ]


async def run(adapter: QbloxClusterAdapter, job: CompiledJob, inject: Any = None) -> Any:
    await adapter.arm(job)
    if inject is not None:
        await adapter.run_on_driver(inject)
    await adapter.start()
    await adapter.wait_done(timeout_s=5.0)
    return await adapter.retrieve(job)


async def test_settings_of_every_kind_reach_the_driver(
    adapter: QbloxClusterAdapter, job: CompiledJob
) -> None:
    await run(adapter, job)
    spec = specs_of(job)
    th, tt, sc = spec[1].sequencer, spec[2].sequencer, spec[3].sequencer

    def read(cluster: Any) -> dict[str, Any]:
        m = cluster.module2
        return {
            "rotation": m.sequencers[th].thresholded_acq_rotation(),
            "threshold": m.sequencers[th].thresholded_acq_threshold(),
            "ttl_level": m.sequencers[tt].ttl_acq_threshold(),
            "ttl_input": m.sequencers[tt].ttl_acq_input_select(),
            "ttl_auto_bin": m.sequencers[tt].ttl_acq_auto_bin_incr_en(),
            "scope_sequencer": m.scope_acq_sequencer_select(),
            "scope_trigger": m.scope_acq_trigger_mode_path0(),
            "scope_average": m.scope_acq_avg_mode_en_path1(),
        }

    assert await adapter.run_on_driver(read) == {
        "rotation": pytest.approx(330.0),
        "threshold": pytest.approx(0.01 * 400),
        "ttl_level": pytest.approx(TTL_LEVEL),
        "ttl_input": 0,
        "ttl_auto_bin": False,
        "scope_sequencer": sc,
        "scope_trigger": "sequencer",
        "scope_average": True,
    }


async def test_injected_data_comes_back_converted_per_kind(
    adapter: QbloxClusterAdapter, job: CompiledJob
) -> None:
    spec = specs_of(job)
    ro, th, tt = spec[0].sequencer, spec[1].sequencer, spec[2].sequencer
    samples = np.arange(1200) % 64 / 128  # exact in the dummy's 12-bit scope scaling
    scope = DummyScopeAcquisitionData(
        data=list(zip(samples, -samples, strict=True)), out_of_range=(False, False), avg_cnt=(4, 4)
    )
    summed = [(1.0, 2.0, 0, 1), (3.0, 4.0, 0, 1), (5.0, 6.0, 0, 1), (7.0, 8.0, 0, 1)]
    states = [(0.0, 0.0, float(k % 3 == 0), 1) for k in range(2 * REPS)]

    def inject(c: Any) -> None:
        c.set_dummy_binned_acquisition_data(2, ro, "0", bins([(40, -80, 0, 4), (4, 8, 0, 4)]))
        c.set_dummy_binned_acquisition_data(2, ro, "4", bins([(2.5, -1.5, 0, 4)]))
        c.set_dummy_binned_acquisition_data(2, ro, "5", bins(list(summed)))
        c.set_dummy_binned_acquisition_data(2, th, "1", bins(list(states)))
        c.set_dummy_binned_acquisition_data(2, tt, "2", bins([(0, 0, 0, 8), None]))
        c.set_dummy_scope_acquisition_data(2, None, scope)

    data = await run(adapter, job, inject)

    np.testing.assert_allclose(data[0], [0.1 - 0.2j, 0.01 + 0.02j])  # (I + jQ) / 400 ns
    np.testing.assert_allclose(data[4], [2.5 - 1.5j])  # the weighted sum, unnormalised
    np.testing.assert_allclose(data[5], [[3.0], [7.0], [11.0], [15.0]])  # append: per repetition
    assert data[5].dtype == np.float64
    expected_states = [[float(k % 3 == 0) for k in (2 * r, 2 * r + 1)] for r in range(REPS)]
    np.testing.assert_array_equal(data[1], expected_states)
    np.testing.assert_array_equal(data[2], [8 / REPS, 0.0])  # mean count per repetition
    assert data[3].shape == (TRACE_NS,)
    np.testing.assert_allclose(data[3], samples[:TRACE_NS] * (1 - 1j))


async def test_nothing_injected_reads_nan_and_zero_counts(
    adapter: QbloxClusterAdapter, job: CompiledJob
) -> None:
    data = await run(adapter, job)

    for channel in (0, 1, 4, 5):  # integrations and states of never-written bins
        assert np.isnan(data[channel].real).all(), channel
    assert np.isnan(data[3]).all()  # no scope data: a NaN trace of the right length
    assert data[3].shape == (TRACE_NS,)
    np.testing.assert_array_equal(data[2], [0.0, 0.0])  # no trigger counted


async def test_the_client_gets_each_channel_with_its_kind_and_coords(
    adapter: QbloxClusterAdapter, job: CompiledJob
) -> None:
    """The daemon's reply, through the wire codec, into the client's ``JobResult``."""
    finished = Job(id="j1", compiled=job)
    finished.acquisitions = await run(adapter, job)
    finished.advance(JobState.DONE)

    result = JobResult.from_reply(decode(encode(job_result(finished, 1.0))))

    assert result.kinds == {
        0: "ssb_integration",
        1: "thresholded",
        2: "trigger_count",
        3: "trace",
        4: "weighted_integration",
        5: "weighted_integration",
    }
    assert result.coords[0] == {0: {"amp": 0.1}, 1: {"amp": 0.2, "label": "b"}}
    assert result.acquisition_specs[5].summed is True
    assert result.acquisition_specs[1].bin_mode == "append"
    assert result.acquisitions[1].shape == (REPS, 2)
    assert result.acquisitions[5].dtype == np.float64
    assert result.acquisitions[0].dtype == np.complex128
