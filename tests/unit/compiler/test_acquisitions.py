"""Every acquisition kind compiled: sequence dicts, settings, module parameters, bins, coords,
and the table of acquisitions the compiler refuses (code and path of each)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.compiler.acquisitions import ACQUISITION_LOWERING
from qconductor.adapters.qblox.compiler.assign import Allocation
from qconductor.adapters.qblox.compiler.context import SeqContext
from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.protocol.compiled import CompiledJob, ModuleProgram, SequencerProgram
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import FrequencyPlan, HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    Schedule,
    SSBIntegrationComplex,
    ThresholdedAcquisition,
    TimedOperation,
    Trace,
    TriggerCount,
    WeightedIntegration,
)

CLOCKS = {"q0.ro": 150e6, "q1.ro": 250e6, "q0.ttl": 0.0, "q0.scope": 0.0, "q2.ro": 100e6}
TTL_LEVEL = 0.25


def acquisition_hardware(ttl_level: float | None = TTL_LEVEL) -> HardwareConfig:
    """Two baseband QRMs: slot 2 reads q0:res and q1:res (output and input), slot 3 q2:res."""
    options: dict[str, Any] = {}
    if ttl_level is not None:
        options["sequencer_options"] = {"q0:res-q0.ttl": {"ttl_acq_threshold": ttl_level}}
    return load_hardware_config(
        {
            "version": "0.2",
            "hardware_description": {
                "cluster0": {
                    "instrument_type": "Cluster",
                    "ref": "internal",
                    "modules": {"2": {"instrument_type": "QRM"}, "3": {"instrument_type": "QRM"}},
                }
            },
            "hardware_options": options,
            "connectivity": {
                "graph": [
                    ["cluster0.module2.complex_output_0", ["q0:res", "q1:res"]],
                    ["cluster0.module2.complex_input_0", ["q0:res", "q1:res"]],
                    ["cluster0.module3.complex_input_0", "q2:res"],
                ]
            },
        }
    )


def sched(repetitions: int = 1) -> Schedule:
    return Schedule(name="acq", repetitions=repetitions, clocks=dict(CLOCKS))


def ssb(**kw: Any) -> SSBIntegrationComplex:
    return SSBIntegrationComplex(**{"port": "q0:res", "clock": "q0.ro", "duration": 400, **kw})


def weighted(n: int = 100, **kw: Any) -> WeightedIntegration:
    ramp = list(np.linspace(-1.0, 1.0, n))
    base = {"port": "q0:res", "clock": "q0.ro", "duration": n, "weights_i": ramp}
    return WeightedIntegration(**{**base, "weights_q": [0.5] * n, **kw})


def thresholded(**kw: Any) -> ThresholdedAcquisition:
    base = {"port": "q1:res", "clock": "q1.ro", "duration": 400, "acq_channel": 1}
    return ThresholdedAcquisition(**{**base, "rotation": -30.0, "threshold": 0.01, **kw})


def trace(**kw: Any) -> Trace:
    base = {"port": "q0:res", "clock": "q0.scope", "duration": 1000, "acq_channel": 3}
    return Trace(**{**base, **kw})


def ttl(**kw: Any) -> TriggerCount:
    base = {"port": "q0:res", "clock": "q0.ttl", "duration": 500, "acq_channel": 2}
    return TriggerCount(**{**base, **kw})


def compile_one(s: Schedule, hardware: HardwareConfig | None = None) -> CompiledJob:
    job = compile_schedule(s, hardware or acquisition_hardware())
    for module in job.clusters[0].modules:
        for seq in module.sequencers:
            if seq.sequence is not None:
                assert validate_program(seq.sequence.program) == [], seq.sequence.program
    return job


def sequencer(job: CompiledJob, clock: str) -> tuple[ModuleProgram, SequencerProgram]:
    for module in job.clusters[0].modules:
        for seq in module.sequencers:
            if seq.clock == clock:
                return module, seq
    raise AssertionError(f"no sequencer for {clock}")


def program_lines(seq: SequencerProgram) -> list[str]:
    assert seq.sequence is not None
    return [line.split(":")[-1].strip() for line in seq.sequence.program.splitlines()]


def test_weighted_integration_stores_each_weight_once() -> None:
    s = sched()
    s.add(weighted())
    s.add(weighted(bin_index=1), delay=300)
    s.add(weighted(acq_channel=4, summed=True, weights_q=[0.5] * 100), delay=300)
    job = compile_one(s)
    _, seq = sequencer(job, "q0.ro")
    assert seq.sequence is not None
    weights = seq.sequence.weights
    assert sorted(w.index for w in weights.values()) == [0, 1]
    np.testing.assert_allclose(weights["wf0"].data, np.linspace(-1, 1, 100))
    np.testing.assert_allclose(weights["wf1"].data, [0.5] * 100)
    acquires = [line for line in program_lines(seq) if line.startswith("acquire_weighed")]
    assert acquires == [
        "acquire_weighed 0, 0, 0, 1, 400",
        "acquire_weighed 0, 1, 0, 1, 400",
        "acquire_weighed 1, 0, 0, 1, 100",  # the summed channel shares the weights
    ]
    assert seq.settings.integration_length_acq is None  # weights set the window, not a setting
    specs = {a.acq_channel: a for a in job.acquisitions}
    assert (specs[0].kind, specs[0].summed, specs[0].num_bins) == ("weighted_integration", False, 2)
    assert specs[4].summed is True


def test_weighted_append_loads_weight_registers_once() -> None:
    s = sched(repetitions=5)
    for k in range(3):
        s.add(weighted(bin_mode="append", bin_index=k), delay=300)
    _, seq = sequencer(compile_one(s), "q0.ro")
    lines = program_lines(seq)
    assert lines[1:4] == ["move 0, R2", "move 1, R3", "move 0, R1"]  # weights, then the bin
    acquires = [line for line in lines if line.startswith("acquire_weighed")]
    assert acquires == ["acquire_weighed 0, R1, R2, R3, 400"] * 2 + [
        "acquire_weighed 0, R1, R2, R3, 100"
    ]
    assert seq.sequence is not None
    assert seq.sequence.acquisitions["0"].num_bins == 15


def test_thresholded_sets_rotation_and_integrated_threshold() -> None:
    s = sched()
    s.add(thresholded())
    s.add(thresholded(bin_index=1), delay=600)
    job = compile_one(s)
    _, seq = sequencer(job, "q1.ro")
    assert seq.settings.thresholded_acq_rotation == pytest.approx(330.0)
    assert seq.settings.thresholded_acq_threshold == pytest.approx(0.01 * 400)
    assert seq.settings.integration_length_acq == 400
    assert "acquire 0, 1, 400" in program_lines(seq)
    assert job.acquisitions[0].kind == "thresholded"


def test_trace_selects_the_scope_of_its_module() -> None:
    s = sched(repetitions=4)
    s.add(trace(coords={"amp": 0.3}), at=100)
    s.add(ssb(), at=100)
    job = compile_one(s)
    module, seq = sequencer(job, "q0.scope")
    assert module.parameters["scope_acq_sequencer_select"] == seq.index
    for path in (0, 1):
        assert module.parameters[f"scope_acq_trigger_mode_path{path}"] == "sequencer"
        assert module.parameters[f"scope_acq_avg_mode_en_path{path}"] is True
    assert seq.settings.integration_length_acq == 1000
    assert "acquire 0, 0, 1000" in program_lines(seq)
    (spec,) = [a for a in job.acquisitions if a.kind == "trace"]
    assert (spec.num_bins, spec.integration_length, spec.coords) == (1, 1000, {0: {"amp": 0.3}})


def test_trigger_count_opens_and_closes_the_ttl_window() -> None:
    s = sched(repetitions=2)
    s.add(ttl(), at=0)
    s.add(ttl(bin_index=1), at=1000)
    _, seq = sequencer(compile_one(s), "q0.ttl")
    ttl_lines = [line for line in program_lines(seq) if line.startswith("acquire_ttl")]
    assert ttl_lines == [
        "acquire_ttl 0, 0, 1, 496",  # counting for duration - 4 ns
        "acquire_ttl 0, 0, 0, 504",  # the closing instruction: the last 4 ns, then the gap
        "acquire_ttl 0, 1, 1, 496",
        "acquire_ttl 0, 1, 0, 4",
    ]
    params = seq.settings.parameters()
    assert params["ttl_acq_threshold"] == TTL_LEVEL
    assert params["ttl_acq_input_select"] == 0  # complex_input_0: the I input, in0
    assert params["ttl_acq_auto_bin_incr_en"] is False


KINDS: dict[str, Callable[..., Any]] = {
    "ssb_integration": ssb,
    "weighted_integration": weighted,
    "thresholded": thresholded,
    "trigger_count": ttl,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("bin_mode", ["average", "append"])
def test_bins_and_coords_of_every_binned_kind(kind: str, bin_mode: str) -> None:
    repetitions = 7
    s = sched(repetitions)
    for k in range(3):
        s.add(KINDS[kind](bin_mode=bin_mode, bin_index=k, coords={"k": k, "f": 1.5}), delay=600)
    job = compile_one(s)
    (spec,) = job.acquisitions
    _, seq = sequencer(job, spec.clock)
    assert seq.sequence is not None
    hardware_bins = 3 * repetitions if bin_mode == "append" else 3
    assert seq.sequence.acquisitions[spec.acq_name].num_bins == hardware_bins
    assert (spec.kind, spec.bin_mode, spec.num_bins, spec.hardware_bins) == (
        kind,
        bin_mode,
        3,
        hardware_bins,
    )
    assert spec.coords == {k: {"k": k, "f": 1.5} for k in range(3)}
    registers = any("R1" in line for line in program_lines(seq))
    assert registers == (bin_mode == "append")


# --- refused acquisitions ----------------------------------------------------------------------
def two_thresholds(s: Schedule) -> None:
    s.add(thresholded(), at=0)
    s.add(thresholded(threshold=0.02, bin_index=1), at=1000)


def two_rotations(s: Schedule) -> None:
    s.add(thresholded(), at=0)
    s.add(thresholded(rotation=10.0, bin_index=1), at=1000)


def threshold_beyond_range(s: Schedule) -> None:
    s.add(thresholded(threshold=1e6))


def two_scopes_on_one_module(s: Schedule) -> None:
    s.add(trace(), at=0)
    s.add(trace(clock="q0.ro", acq_channel=5), at=0)


def trace_in_append_mode(s: Schedule) -> None:
    s.add(trace(bin_mode="append"))


def trace_and_integration_on_one_sequencer(s: Schedule) -> None:
    s.add(trace(clock="q0.ro"), at=0)
    s.add(ssb(duration=1000), at=2000)


def two_traces_on_one_channel(s: Schedule) -> None:
    s.add(trace(), at=0)
    s.add(trace(), at=2000)


def trace_not_multiple_of_4(s: Schedule) -> None:
    s.add(trace(duration=1002))


def append_out_of_order(s: Schedule) -> None:
    s.add(ssb(bin_mode="append", bin_index=1))


def too_many_bins(s: Schedule) -> None:
    s.repetitions = 70_000
    s.add(ssb(bin_mode="append"), at=0)
    s.add(ssb(bin_mode="append", bin_index=1), at=1000)


def weight_memory(s: Schedule) -> None:
    for k in range(3):  # 3 x (3000 + 3000 distinct samples)
        w = [0.1 * k] * 2999 + [0.5]
        s.add(weighted(3000, weights_i=w, weights_q=[-x for x in w], bin_index=k), delay=300)


def too_many_weight_arrays(s: Schedule) -> None:
    for k in range(17):  # 34 distinct arrays
        s.add(weighted(4, weights_i=[k / 20] * 4, weights_q=[-k / 20] * 4), delay=300)


def summed_and_separated_on_one_channel(s: Schedule) -> None:
    s.add(weighted(), at=0)
    s.add(weighted(summed=True, bin_index=1), at=1000)


def trigger_count_too_short(s: Schedule) -> None:
    s.add(ttl(duration=6))


def trigger_count_without_level(s: Schedule) -> None:
    s.add(ttl())


def trigger_count_level_out_of_range(s: Schedule) -> None:
    s.add(ttl())


# (build, code, path, ttl level of the hardware config)
CASES: list[tuple[Callable[[Schedule], None], ErrorCode, str, float | None]] = [
    (two_thresholds, ErrorCode.SCHEDULE_INVALID, "operations[1].op.threshold", TTL_LEVEL),
    (two_rotations, ErrorCode.SCHEDULE_INVALID, "operations[1].op.rotation", TTL_LEVEL),
    (threshold_beyond_range, ErrorCode.SCHEDULE_INVALID, "operations[0].op.threshold", TTL_LEVEL),
    (two_scopes_on_one_module, ErrorCode.ACQUISITION_LIMIT_EXCEEDED, "operations[1]", TTL_LEVEL),
    (trace_in_append_mode, ErrorCode.UNSUPPORTED_OPERATION, "operations[0].op.bin_mode", 0.25),
    (
        trace_and_integration_on_one_sequencer,
        ErrorCode.UNSUPPORTED_OPERATION,
        "operations[1].op.kind",
        TTL_LEVEL,
    ),
    (two_traces_on_one_channel, ErrorCode.UNSUPPORTED_OPERATION, "operations[1].op.bin_index", 0.0),
    (trace_not_multiple_of_4, ErrorCode.INTEGRATION_LENGTH_INVALID, "operations[0].op.duration", 0),
    (append_out_of_order, ErrorCode.SCHEDULE_INVALID, "operations[0].op.bin_index", TTL_LEVEL),
    (too_many_bins, ErrorCode.ACQUISITION_LIMIT_EXCEEDED, "operations[1].op.bin_index", 0.0),
    (weight_memory, ErrorCode.WAVEFORM_MEMORY_EXCEEDED, "operations[2].op.weights_i", TTL_LEVEL),
    (
        too_many_weight_arrays,
        ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
        "operations[16].op.weights_i",
        TTL_LEVEL,
    ),
    (
        summed_and_separated_on_one_channel,
        ErrorCode.SCHEDULE_INVALID,
        "operations[1].op.summed",
        TTL_LEVEL,
    ),
    (trigger_count_too_short, ErrorCode.SCHEDULE_INVALID, "operations[0].op.duration", TTL_LEVEL),
    (trigger_count_without_level, ErrorCode.CONFIG_MISSING_KEY, "operations[0]", None),
    (trigger_count_level_out_of_range, ErrorCode.CONFIG_BAD_VALUE, "operations[0]", 1.5),
]


@pytest.mark.parametrize(
    ("build", "code", "path", "level"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_refused_acquisitions(
    build: Callable[[Schedule], None], code: ErrorCode, path: str, level: float | None
) -> None:
    s = sched()
    build(s)
    with pytest.raises(QconductorError) as info:
        compile_schedule(s, acquisition_hardware(level))
    found = [(d.code, d.path) for d in info.value.details]
    assert (code, path) in found, found


def test_conflicting_settings_name_both_operations() -> None:
    s = sched()
    two_thresholds(s)
    with pytest.raises(QconductorError) as info:
        compile_schedule(s, acquisition_hardware())
    (detail,) = info.value.details
    assert detail.path == "operations[1].op.threshold"
    assert "operations[0]" in detail.message
    assert "thresholded_acq_threshold" in detail.message


def test_trigger_count_needs_a_baseband_qrm() -> None:
    """The QRM-RF driver has no TTL acquisition parameters: refused at compile time."""
    alloc = Allocation(
        port="q0:res",
        clock="q0.ttl",
        cluster="cluster0",
        slot=2,
        module_type="QRM_RF",
        index=0,
        nco_freq=0.0,
        clock_freq=0.0,
        outputs=[],
        inputs=["complex_input_0"],
        plan=FrequencyPlan(nco_freq=0.0, lo_freq=None, nco_enabled=False),
    )
    ctx = SeqContext(alloc=alloc, diag=Diagnostics(), repetitions=1)
    events = ACQUISITION_LOWERING[TriggerCount](ctx, 0, TimedOperation(start=0, op=ttl()))
    assert events == []
    assert [(d.code, d.path) for d in ctx.diag.items] == [
        (ErrorCode.UNSUPPORTED_OPERATION, "operations[0].op.port")
    ]
