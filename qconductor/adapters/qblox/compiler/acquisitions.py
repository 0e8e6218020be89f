"""Lowering of acquisitions; channels, bins and shared settings are in :mod:`.acq_table`.

What each kind becomes:

* SSB integration and thresholded acquisition: ``acquire`` integrating for the sequencer's
  ``integration_length_acq`` (one setting per sequencer, a multiple of 4 ns). A thresholded
  acquisition also sets ``thresholded_acq_rotation`` (the model's rotation modulo 360°) and
  ``thresholded_acq_threshold``; the instrument compares the rotated *sum* over the window,
  so the model's threshold (in the averaged units of an SSB result) is multiplied by the
  integration length (qblox-instruments' parameter docstring says so; quantify-scheduler does
  the same). The rotation is passed as given: q1simulator models the comparison as
  ``I cos(rotation) + Q sin(rotation) >= threshold``.
* Weighted integration: ``acquire_weighed`` with the weights stored in the sequence's
  ``weights`` table (de-duplicated; at most 32 arrays, 16384 samples). In append mode the
  weight operands are registers too (the instruction takes its operands all as immediates
  or all as registers), loaded once before the repetition loop.
* Trace: ``acquire`` triggers the module's scope, which averages every trigger of the
  selected sequencer into one trace. So a trace is acquired once per repetition, in average
  mode only, by a sequencer that makes no other ``acquire``, and one sequencer per module.
* Trigger count: ``acquire_ttl .., 1`` opens the counting window at the start and
  ``acquire_ttl .., 0`` closes it 4 ns before the end (as Qblox's own backend does: the
  closing instruction occupies the last 4 ns), so triggers are counted for ``duration - 4``
  ns. QRM (baseband) only; the level comes from the hardware config's
  ``sequencer_options.ttl_acq_threshold`` of the port-clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from qconductor.adapters.qblox.compiler.acq_table import (
    MAX_INTEGRATION_LENGTH,
    acq_channel,
    bin_for,
    channel_and_bin,
    integration_length,
    sequencer_setting,
)
from qconductor.adapters.qblox.compiler.context import SeqContext
from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics, op_path
from qconductor.adapters.qblox.compiler.ir import (
    Acquire,
    AcquireTtl,
    BinIndex,
    Event,
    Register,
    new_acquire,
)
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.hardware import port_clock_key
from qconductor.protocol.schedule import (
    SSBIntegrationComplex,
    ThresholdedAcquisition,
    TimedOperation,
    Trace,
    TriggerCount,
    WeightedIntegration,
)

WEIGHT_MEMORY = 16_384  # samples over all weight arrays of a sequencer
MAX_WEIGHTS = 32  # weight indices 0..31
TTL_CLOSE_NS = 4

Lowering = Callable[[SeqContext, int, TimedOperation], list[Event]]


def _ssb(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = cast(SSBIntegrationComplex, timed.op)  # dispatched by type
    ok = integration_length(ctx, index, op.duration)
    found = channel_and_bin(ctx, index, op, "ssb_integration", ok)
    if found is None:
        return []
    start = timed.start
    action = new_acquire((found[0].acq_index, found[1], None))
    return [Event(start, index, [], action, start + op.duration)]


def _thresholded(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, ThresholdedAcquisition)
    ok = integration_length(ctx, index, op.duration)
    threshold = op.threshold * op.duration  # the instrument compares the integrated sum
    if abs(threshold) > MAX_INTEGRATION_LENGTH:
        ctx.diag.error(
            ErrorCode.SCHEDULE_INVALID,
            f"threshold {op.threshold:g} over {op.duration} ns is {threshold:g} in the "
            f"instrument's integrated units, beyond ±{MAX_INTEGRATION_LENGTH}",
            op_path(index, "threshold"),
            hint="the threshold is in the units of an SSB result: about -1..1 of full scale",
        )
        ok = False
    ok &= sequencer_setting(ctx, index, "thresholded_acq_rotation", op.rotation % 360.0, "rotation")
    ok &= sequencer_setting(ctx, index, "thresholded_acq_threshold", threshold, "threshold")
    if op.feedback_trigger_label is not None:
        label = "feedback_trigger_label"
        address = ctx.trigger_address(op.feedback_trigger_label, index)
        ok &= sequencer_setting(ctx, index, "thresholded_acq_trigger_en", True, label)
        ok &= sequencer_setting(ctx, index, "thresholded_acq_trigger_address", address, label)
        ok &= sequencer_setting(ctx, index, "thresholded_acq_trigger_invert", False, label)
    found = channel_and_bin(ctx, index, op, "thresholded", ok)
    if found is None:
        return []
    action = Acquire(found[0].acq_index, found[1])
    return [Event(timed.start, index, action=action, busy_until=timed.end)]


def _weighted(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, WeightedIntegration)
    weights = _weights(ctx, index, op)
    channel = acq_channel(ctx, index, op, "weighted_integration")
    if channel is None:
        return []
    if channel.first_op == index:
        channel.summed = op.summed
    elif channel.summed != op.summed:
        ctx.diag.error(
            ErrorCode.SCHEDULE_INVALID,
            f"acquisition channel {op.acq_channel} is summed={channel.summed} since "
            f"operations[{channel.first_op}]; this acquisition is summed={op.summed}",
            op_path(index, "summed"),
            hint="one channel holds either complex (separated) or real (summed) results",
        )
        return []
    bin_index = bin_for(ctx, index, op, channel)
    if bin_index is None or weights is None:
        return []
    operands: tuple[BinIndex, BinIndex] = weights
    if isinstance(bin_index, Register):
        wi, wq = (_weight_register(ctx, index, w) for w in weights)
        if wi is None or wq is None:
            return []
        operands = (wi, wq)
    action = Acquire(channel.acq_index, bin_index, weights=operands)
    return [Event(timed.start, index, action=action, busy_until=timed.end)]


def _weights(ctx: SeqContext, index: int, op: WeightedIntegration) -> tuple[int, int] | None:
    """Store both weight arrays (once each); None when the weight memory is exceeded."""
    table = ctx.weights
    before = (len(table.arrays), table.samples)
    wi, wq = (
        table.add_array(np.asarray(w, dtype=np.float64) + 0.0) for w in (op.weights_i, op.weights_q)
    )
    if table.samples > WEIGHT_MEMORY:
        if before[1] <= WEIGHT_MEMORY:
            ctx.diag.error(
                ErrorCode.WAVEFORM_MEMORY_EXCEEDED,
                f"{ctx.name} needs {table.samples} weight samples (I and Q counted separately); "
                f"a sequencer holds {WEIGHT_MEMORY}",
                op_path(index, "weights_i"),
                hint="reuse weights (equal arrays are stored once) or shorten them",
            )
        return None
    if len(table.arrays) > MAX_WEIGHTS:
        if before[0] <= MAX_WEIGHTS:
            ctx.diag.error(
                ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
                f"{ctx.name} needs more than {MAX_WEIGHTS} distinct weight arrays",
                op_path(index, "weights_i"),
                hint="reuse weights (equal arrays are stored once)",
            )
        return None
    return wi, wq


def _weight_register(ctx: SeqContext, index: int, weight: int) -> Register | None:
    register = ctx.weight_registers.get(weight)
    if register is None:
        try:
            register = ctx.register()
        except RuntimeError:
            ctx.diag.error(
                ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
                f"{ctx.name} runs out of registers for append-mode weights",
                op_path(index, "weights_i"),
                hint="use fewer distinct weights in append mode",
            )
            return None
        ctx.weight_registers[weight] = register
        ctx.setup.append(f"move {weight}, {register}")
    return register


def _trace(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, Trace)
    if op.bin_mode == "append":
        ctx.diag.error(
            ErrorCode.UNSUPPORTED_OPERATION,
            "a trace in append mode: the scope averages every trigger into one trace",
            op_path(index, "bin_mode"),
            hint="use average mode (the trace averaged over repetitions)",
        )
        return []
    ok = integration_length(ctx, index, op.duration)
    channel = acq_channel(ctx, index, op, "trace")
    if channel is None:
        return []
    if channel.first_op != index or op.bin_index != 0:
        ctx.diag.error(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"trace channel {op.acq_channel} is acquired once per repetition, into bin 0 "
            f"(first at operations[{channel.first_op}]); the scope holds one trace",
            op_path(index, "bin_index"),
            hint="use another clock (sequencer, on another module) for a second trace",
        )
        return []
    bin_index = bin_for(ctx, index, op, channel)
    if bin_index is None or not ok:
        return []
    ctx.uses_scope = True
    ctx.module_settings["scope_acq_sequencer_select"] = ctx.alloc.index
    for path in (0, 1):
        ctx.module_settings[f"scope_acq_trigger_mode_path{path}"] = "sequencer"
        ctx.module_settings[f"scope_acq_avg_mode_en_path{path}"] = True
    action = Acquire(channel.acq_index, bin_index)
    return [Event(timed.start, index, action=action, busy_until=timed.end)]


def check_scope_users(contexts: Sequence[SeqContext], diag: Diagnostics) -> None:
    """A module has one scope: at most one of its sequencers may acquire a trace."""
    users: dict[tuple[str, int], SeqContext] = {}
    for ctx in contexts:
        if not ctx.uses_scope:
            continue
        key = (ctx.alloc.cluster, ctx.alloc.slot)
        first = users.setdefault(key, ctx)
        if first is not ctx:
            diag.error(
                ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
                f"a trace on {ctx.name}, but {first.name} already uses the scope of "
                f"{key[0]}.module{key[1]} (operations[{_trace_op(first)}]); a module has one",
                op_path(_trace_op(ctx)),
                hint="acquire the traces on different modules or in different schedules",
            )


def _trace_op(ctx: SeqContext) -> int:
    return next(c.first_op for c in ctx.acq_channels.values() if c.kind == "trace")


def _trigger_count(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, TriggerCount)
    ok = _ttl_settings(ctx, index)
    if op.duration < 2 * TTL_CLOSE_NS:
        ctx.diag.error(
            ErrorCode.SCHEDULE_INVALID,
            f"a trigger count of {op.duration} ns: the window closes {TTL_CLOSE_NS} ns before "
            f"the end, so it lasts at least {2 * TTL_CLOSE_NS} ns",
            op_path(index, "duration"),
        )
        ok = False
    found = channel_and_bin(ctx, index, op, "trigger_count", ok)
    if found is None:
        return []
    (channel, bin_index), close = found, timed.end - TTL_CLOSE_NS
    return [
        Event(
            timed.start,
            index,
            action=AcquireTtl(channel.acq_index, bin_index, True),
            busy_until=timed.end,
        ),
        Event(close, index, action=AcquireTtl(channel.acq_index, bin_index, False)),
    ]


def _ttl_settings(ctx: SeqContext, index: int) -> bool:
    alloc = ctx.alloc
    if alloc.module_type != "QRM":
        ctx.diag.error(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"a trigger count on {ctx.name}: only the baseband QRM counts TTL triggers "
            f"(a {alloc.module_type} has no TTL acquisition path)",
            op_path(index, "port"),
        )
        return False
    key = port_clock_key(alloc.port, alloc.clock)
    options = ctx.options.sequencer_options if ctx.options else None
    level = options.ttl_acq_threshold if options else None
    where = f'hardware_options.sequencer_options["{key}"].ttl_acq_threshold'
    if level is None or not -1.0 <= level <= 1.0:
        ctx.diag.error(
            ErrorCode.CONFIG_MISSING_KEY if level is None else ErrorCode.CONFIG_BAD_VALUE,
            f"counts triggers on {key}, whose TTL level ({where}) is "
            + ("not set" if level is None else f"{level}, outside -1..1"),
            op_path(index),
            hint=f"set {where}: the input level, a fraction -1..1 of the input's full scale",
        )
        return False
    input_select = 1 if "real_input_1" in alloc.inputs else 0  # complex_input_0: in0 (I)
    return all(
        sequencer_setting(ctx, index, name, value, "port")
        for name, value in (
            ("ttl_acq_input_select", input_select),
            ("ttl_acq_threshold", level),
            ("ttl_acq_auto_bin_incr_en", False),
        )
    )


ACQUISITION_LOWERING: dict[type[Any], Lowering] = {
    SSBIntegrationComplex: _ssb,
    WeightedIntegration: _weighted,
    ThresholdedAcquisition: _thresholded,
    Trace: _trace,
    TriggerCount: _trigger_count,
}
