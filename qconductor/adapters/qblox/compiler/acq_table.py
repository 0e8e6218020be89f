"""The acquisition table of a sequencer: channels, bins and the settings acquisitions share.

Each acquisition channel on a sequencer gets one acquisition index (at most 32). In ``average``
mode a bin is an immediate and the hardware averages it over repetitions; in ``append`` mode
the bin is a register that advances after every acquisition, so repetition ``r`` fills bins
``r * n ... r * n + n - 1`` (``n`` acquisitions of the channel per repetition, in
``bin_index`` order). The integration length and the thresholded/TTL parameters are settings
of the whole sequencer: acquisitions that need different values are reported together.
"""

from __future__ import annotations

from qconductor.adapters.qblox.compiler.context import AcqChannel, SeqContext
from qconductor.adapters.qblox.compiler.diagnostics import op_path
from qconductor.adapters.qblox.compiler.ir import BinIndex
from qconductor.protocol.compiled import AcquisitionKind
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.schedule import Acquisition

MAX_INTEGRATION_LENGTH = 16_777_212
MAX_ACQ_INDICES = 32
MAX_BINS = 131_072
# kinds that use ``acquire``/``acquire_weighed``, each of which triggers the scope
SCOPE_TRIGGERING: frozenset[str] = frozenset(
    {"ssb_integration", "weighted_integration", "thresholded", "trace"}
)


def acq_channel(
    ctx: SeqContext, index: int, op: Acquisition, kind: AcquisitionKind
) -> AcqChannel | None:
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
        if not _scope_free(ctx, index, kind):
            return None
        channel = AcqChannel(
            acq_index=len(ctx.acq_channels), kind=kind, bin_mode=op.bin_mode, first_op=index
        )
        if op.bin_mode == "append":
            channel.register = ctx.register()
        ctx.acq_channels[op.acq_channel] = channel
    elif channel.kind != kind or channel.bin_mode != op.bin_mode:
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


def _scope_free(ctx: SeqContext, index: int, kind: str) -> bool:
    """A trace's sequencer may trigger the scope for that trace only."""
    for channel in ctx.acq_channels.values():
        if "trace" in (kind, channel.kind) and {kind, channel.kind} <= SCOPE_TRIGGERING:
            ctx.diag.error(
                ErrorCode.UNSUPPORTED_OPERATION,
                f"a {kind} acquisition on {ctx.name}, which already has a {channel.kind} "
                f"channel (operations[{channel.first_op}]): every acquisition of a trace's "
                "sequencer triggers the scope, which would average them into the trace",
                op_path(index, "kind"),
                hint="acquire the trace on its own clock (its own sequencer)",
            )
            return False
    return True


def bin_for(ctx: SeqContext, index: int, op: Acquisition, channel: AcqChannel) -> BinIndex | None:
    """The bin operand: the immediate, or (append) the channel's register, checking that
    appended acquisitions come in bin order."""
    ctx.has_acquisitions = True
    if ctx.loop_stack or channel.loops is not None:
        return _loop_bin(ctx, index, op, channel)
    if op.coords:
        channel.coords[op.bin_index] = dict(op.coords)
    if channel.register is None:
        total = op.bin_index + 1
        if total > channel.num_bins:
            channel.num_bins = total
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


def _loop_bin(ctx: SeqContext, index: int, op: Acquisition, channel: AcqChannel) -> BinIndex | None:
    """An acquisition in a loop: one bin per point of its loops (outermost first), counted by a
    register that advances after every acquisition. In ``average`` mode it restarts at 0 when
    the outermost loop starts (every repetition); in ``append`` mode it runs on through the
    repetitions. Such a channel has this one acquisition operation."""
    if channel.first_op != index or not ctx.loop_stack:
        ctx.diag.error(
            ErrorCode.SCHEDULE_INVALID,
            f"acquisition channel {op.acq_channel} is acquired in a loop (operations"
            f"[{channel.first_op}] or this one) and elsewhere; a channel acquired in a loop has "
            "one acquisition operation, whose bins follow the loop",
            op_path(index, "acq_channel"),
            hint="give every acquisition in a loop its own acquisition channel",
        )
        return None
    if op.bin_index != 0 or op.kind == "trace":
        ctx.diag.error(
            ErrorCode.SCHEDULE_INVALID if op.bin_index else ErrorCode.UNSUPPORTED_OPERATION,
            f"bin_index is {op.bin_index}: in a loop the bin follows the loop's point"
            if op.bin_index
            else "a trace is acquired once per repetition, not per point of a loop",
            op_path(index, "bin_index" if op.bin_index else "kind"),
            hint="use bin_index 0" if op.bin_index else "acquire the trace outside the loop",
        )
        return None
    points = 1
    for frame in ctx.loop_stack:
        points *= frame.segment.count
    total = points * (ctx.repetitions if op.bin_mode == "append" else 1)
    if total > MAX_BINS:
        ctx.diag.error(
            ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
            f"channel {op.acq_channel} needs {total} bins on {ctx.name} ({points} points"
            + (f" x {ctx.repetitions} repetitions" if op.bin_mode == "append" else "")
            + f"); a sequencer holds {MAX_BINS}",
            op_path(index, "acq_channel"),
            hint="fewer points, or average mode",
        )
        return None
    if op.coords:
        channel.coords[0] = dict(op.coords)
    channel.loops = [frame.segment for frame in ctx.loop_stack]
    channel.num_bins = points
    if channel.register is None:  # average mode: restart with every repetition
        channel.register = ctx.register()
        ctx.loop_stack[0].setup.append(f"move 0, {channel.register}")
    return channel.register


def integration_length(ctx: SeqContext, index: int, length: int) -> bool:
    """Require the sequencer's integration length (one setting per sequencer)."""
    if length == ctx.integration_length:  # the common case: checked when it was set
        return True
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
    else:
        ctx.diag.error(
            ErrorCode.INTEGRATION_LENGTH_INVALID,
            f"integrates {length} ns but an earlier acquisition on {ctx.name} integrates "
            f"{ctx.integration_length} ns; the integration length is one setting per sequencer",
            op_path(index, "duration"),
            hint=f"use {ctx.integration_length} ns, or another clock for this acquisition",
        )
        return False
    return True


def sequencer_setting(
    ctx: SeqContext, index: int, name: str, value: float | int | bool | str, attr: str
) -> bool:
    """Require a sequencer-wide setting; report both operations when they disagree."""
    if ctx.require_setting(name, value, index):
        return True
    ctx.diag.error(
        ErrorCode.SCHEDULE_INVALID,
        f"needs {name} = {value!r} on {ctx.name}, but operations[{ctx.setting_sources[name]}] "
        f"needs {ctx.settings[name]!r}; it is one setting per sequencer",
        op_path(index, attr),
        hint=f"use the same {attr} for both, or another clock (sequencer) for one of them",
    )
    return False


def channel_and_bin(
    ctx: SeqContext, index: int, op: Acquisition, kind: AcquisitionKind, ok: bool = True
) -> tuple[AcqChannel, BinIndex] | None:
    channel = acq_channel(ctx, index, op, kind)
    if channel is None:
        return None
    bin_index = bin_for(ctx, index, op, channel)
    return None if bin_index is None or not ok else (channel, bin_index)
