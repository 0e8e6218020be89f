"""Lowering of acquisitions, and the acquisition table of a sequencer.

Each acquisition channel on a sequencer gets one acquisition index (at most 32). In ``average``
mode a bin is an immediate and the hardware averages it over repetitions; in ``append`` mode
the bin is a register that advances after every acquisition, so repetition ``r`` fills bins
``r * n ... r * n + n - 1`` (``n`` acquisitions of the channel per repetition, in
``bin_index`` order). The integration length is one sequencer setting, so all integrations on
a sequencer last equally long (a multiple of 4 ns).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qconductor.adapters.qblox.compiler.context import AcqChannel, SeqContext
from qconductor.adapters.qblox.compiler.diagnostics import op_path
from qconductor.adapters.qblox.compiler.ir import Acquire, BinIndex, Event
from qconductor.protocol.compiled import AcquisitionKind
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.schedule import SSBIntegrationComplex, TimedOperation

MAX_INTEGRATION_LENGTH = 16_777_212
MAX_ACQ_INDICES = 32
MAX_BINS = 131_072


def acq_channel(ctx: SeqContext, index: int, op: Any, kind: AcquisitionKind) -> AcqChannel | None:
    """The channel ``op`` acquires into, registering it on first use; None after an error."""
    channel = ctx.acq_channels.get(op.acq_channel)
    if channel is None:
        if len(ctx.acq_channels) >= MAX_ACQ_INDICES:
            ctx.diag.error(
                ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
                f"{ctx.name} would need more than {MAX_ACQ_INDICES} acquisition channels",
                op_path(index, "acq_channel"),
            )
            return None
        channel = AcqChannel(
            acq_index=len(ctx.acq_channels), kind=kind, bin_mode=op.bin_mode, first_op=index
        )
        if op.bin_mode == "append":
            channel.register = ctx.register()
        ctx.acq_channels[op.acq_channel] = channel
    elif (channel.kind, channel.bin_mode) != (kind, op.bin_mode):
        ctx.diag.error(
            ErrorCode.SCHEDULE_INVALID,
            f"acquisition channel {op.acq_channel} is a {channel.kind} channel in "
            f"{channel.bin_mode} mode (since operations[{channel.first_op}]); this acquisition "
            f"is {kind} in {op.bin_mode} mode",
            op_path(index, "acq_channel"),
            hint="use another acquisition channel for it",
        )
        return None
    return channel


def bin_for(ctx: SeqContext, index: int, op: Any, channel: AcqChannel) -> BinIndex | None:
    """The bin operand: the immediate, or (append) the channel's register, checking that
    appended acquisitions come in bin order."""
    ctx.has_acquisitions = True
    if op.coords:
        channel.coords[op.bin_index] = dict(op.coords)
    if channel.register is None:
        channel.num_bins = max(channel.num_bins, op.bin_index + 1)
        total = channel.num_bins
    else:
        if op.bin_index != channel.per_repetition:
            ctx.diag.error(
                ErrorCode.SCHEDULE_INVALID,
                f"in append mode the acquisitions of channel {op.acq_channel} fill bins in "
                f"time order; this one (bin_index {op.bin_index}) is number "
                f"{channel.per_repetition} in its repetition",
                op_path(index, "bin_index"),
                hint=f"use bin_index {channel.per_repetition}",
            )
            return None
        channel.per_repetition += 1
        channel.num_bins = channel.per_repetition
        total = channel.per_repetition * ctx.repetitions
    if total > MAX_BINS:
        ctx.diag.error(
            ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
            f"channel {op.acq_channel} needs {total} bins on {ctx.name}; a sequencer holds "
            f"{MAX_BINS}",
            op_path(index, "bin_index"),
            hint="fewer repetitions in append mode, or average mode",
        )
        return None
    return channel.register if channel.register is not None else op.bin_index


def integration_length(ctx: SeqContext, index: int, length: int) -> bool:
    if length % 4 or not 4 <= length <= MAX_INTEGRATION_LENGTH:
        ctx.diag.error(
            ErrorCode.INTEGRATION_LENGTH_INVALID,
            f"integration length {length} ns is not a multiple of 4 in 4..{MAX_INTEGRATION_LENGTH}",
            op_path(index, "duration"),
            hint=f"use {max(4, length - length % 4)} ns",
        )
        return False
    if ctx.integration_length is None:
        ctx.integration_length = length
    elif ctx.integration_length != length:
        ctx.diag.error(
            ErrorCode.INTEGRATION_LENGTH_INVALID,
            f"integrates {length} ns but an earlier acquisition on {ctx.name} integrates "
            f"{ctx.integration_length} ns; the integration length is one setting per sequencer",
            op_path(index, "duration"),
            hint=f"use {ctx.integration_length} ns, or another clock for this acquisition",
        )
        return False
    return True


def _ssb(ctx: SeqContext, index: int, timed: TimedOperation) -> list[Event]:
    op = timed.op
    assert isinstance(op, SSBIntegrationComplex)
    channel = acq_channel(ctx, index, op, "ssb_integration")
    ok = integration_length(ctx, index, op.duration)
    if channel is None:
        return []
    bin_index = bin_for(ctx, index, op, channel)
    if bin_index is None or not ok:
        return []
    action = Acquire(channel.acq_index, bin_index)
    return [Event(timed.start, index, action=action, busy_until=timed.end)]


ACQUISITION_LOWERING: dict[type[Any], Callable[[SeqContext, int, TimedOperation], list[Event]]] = {
    SSBIntegrationComplex: _ssb,
}
