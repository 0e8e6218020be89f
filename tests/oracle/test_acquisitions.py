"""Oracle: every acquisition kind, compiled and executed by q1simulator.

q1simulator reports each acquisition's window (integration, weighted, TTL) and counts what
lands in every bin; its values are mock data. So the checks are: no error flagged (bin
indices in range, acquisitions not too close, weight indices valid), every window at the
schedule's nanosecond in every repetition and as long as the acquisition integrates (the
integration length, the weights' length, ``duration - 4`` for a TTL window), and every bin
written as often as its bin mode says. The expectations come from the schedule alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from qconductor.adapters.qblox.compiler.emit import PREAMBLE_NS
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.adapters.qblox.retrieval import convert_acquisitions
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.schedule import (
    ACQUISITION_TYPES,
    Schedule,
    TimedOperation,
    WeightedIntegration,
)
from tests.oracle.compiled import module_of, run_compiled
from tests.oracle.q1sim import ModuleRun
from tests.unit.compiler.test_acquisitions import (
    compile_one,
    sched,
    ssb,
    thresholded,
    trace,
    ttl,
    weighted,
)

pytestmark = pytest.mark.timeout(120)

REPETITIONS = 3
SLOT = 2
TTL_COUNTS_PER_WINDOW = 5  # q1simulator's mock: five triggers in every TTL window


def every_kind(bin_mode: str) -> Schedule:
    """One channel of each binned kind (in ``bin_mode``) and a trace, on four sequencers."""
    s = sched(REPETITIONS)
    binned: dict[str, Any] = {"bin_mode": bin_mode}
    s.add(ssb(**binned), at=100)
    s.add(ssb(**binned, bin_index=1), at=700)
    s.add(weighted(200, acq_channel=4, **binned), at=1300)
    s.add(weighted(200, acq_channel=5, summed=True, **binned), at=1700)
    s.add(thresholded(**binned), at=100)
    s.add(thresholded(**binned, bin_index=1), at=900)
    s.add(ttl(**binned), at=200)
    s.add(ttl(**binned, duration=96, bin_index=1), at=1000)
    s.add(trace(), at=300)
    return s


def expected_window(timed: TimedOperation) -> tuple[int, int]:
    """(start, stop) ns of the acquisition in the first repetition, from the schedule."""
    op = timed.op
    length = op.duration - 4 if op.kind == "trigger_count" else op.duration
    start = PREAMBLE_NS + timed.start
    return start, start + length


def run(bin_mode: str) -> tuple[Schedule, CompiledJob, ModuleRun]:
    s = every_kind(bin_mode)
    job = compile_one(s)
    result = run_compiled(job, SLOT)
    assert result.errors == [], result.log
    return s, job, result


@pytest.fixture(scope="module", params=["average", "append"])
def executed(request: pytest.FixtureRequest) -> tuple[Schedule, CompiledJob, ModuleRun]:
    return run(request.param)


def test_every_program_passes_our_validator(
    executed: tuple[Schedule, CompiledJob, ModuleRun],
) -> None:
    _, job, _ = executed
    programs = [s.sequence.program for s in module_of(job, SLOT).sequencers if s.sequence]
    assert len(programs) == 4
    for program in programs:
        assert validate_program(program, max_instructions=12288) == []


def test_windows_open_on_time_for_as_long_as_they_integrate(
    executed: tuple[Schedule, CompiledJob, ModuleRun],
) -> None:
    s, job, result = executed
    rep_ns = job.repetition_duration_ns  # the period, loop head included
    module = module_of(job, SLOT)
    for seq in module.sequencers:
        if seq.sequence is None:
            continue
        ops = sorted(
            (
                t
                for t in s.operations
                if isinstance(t.op, ACQUISITION_TYPES)
                and (t.op.port, t.op.clock) == (seq.port, seq.clock)
            ),
            key=lambda t: t.start,
        )
        first = [expected_window(t) for t in ops]
        expected = [(a + r * rep_ns, b + r * rep_ns) for r in range(REPETITIONS) for a, b in first]
        assert result.acq_windows[seq.index] == expected, seq.clock


def test_every_bin_is_written_as_its_bin_mode_says(
    executed: tuple[Schedule, CompiledJob, ModuleRun],
) -> None:
    _, job, result = executed
    for spec in job.acquisitions:
        if spec.kind == "trace":
            continue
        counts = result.acquisitions[spec.sequencer][spec.acq_name]["acquisition"]["bins"]
        per_write = TTL_COUNTS_PER_WINDOW if spec.kind == "trigger_count" else 1
        writes = REPETITIONS if spec.bin_mode == "average" else 1
        assert len(counts["avg_cnt"]) == spec.hardware_bins
        assert list(counts["avg_cnt"]) == [per_write * writes] * spec.hardware_bins, spec


def test_retrieval_reads_the_simulated_acquisitions(
    executed: tuple[Schedule, CompiledJob, ModuleRun],
) -> None:
    """q1simulator answers in the driver's ``get_acquisitions`` shape: our conversion reads
    it, with the shapes and dtypes of each kind and the mean count per repetition."""
    _, job, result = executed
    binned = [a for a in job.acquisitions if a.kind != "trace"]
    raw = {(SLOT, seq): found for seq, found in result.acquisitions.items()}
    data = convert_acquisitions(binned, raw)
    for spec in binned:
        shape = (spec.num_bins,) if spec.bin_mode == "average" else (REPETITIONS, spec.num_bins)
        assert data[spec.acq_channel].shape == shape
        complex_kind = spec.kind in ("ssb_integration", "weighted_integration") and not spec.summed
        assert np.iscomplexobj(data[spec.acq_channel]) == complex_kind
    (counts,) = [a.acq_channel for a in binned if a.kind == "trigger_count"]
    np.testing.assert_array_equal(data[counts], np.full_like(data[counts], TTL_COUNTS_PER_WINDOW))


def test_weighted_acquisitions_use_their_weights(
    executed: tuple[Schedule, CompiledJob, ModuleRun],
) -> None:
    s, job, _ = executed
    (spec,) = [a for a in job.acquisitions if a.acq_channel == 4]
    (seq,) = [q for q in module_of(job, SLOT).sequencers if q.index == spec.sequencer]
    assert seq.sequence is not None
    lines = seq.sequence.program.splitlines()
    assert sum("acquire_weighed" in line for line in lines) == 2
    (op,) = [
        t.op
        for t in s.operations
        if isinstance(t.op, WeightedIntegration) and t.op.acq_channel == 4
    ]
    stored = {tuple(w.data) for w in seq.sequence.weights.values()}
    assert tuple(op.weights_i) in stored
    assert tuple(op.weights_q) in stored
