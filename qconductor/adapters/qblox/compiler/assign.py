"""Pass 1: every port-clock the schedule uses gets one sequencer of the module wired to it.

Checks on the way: the clock is defined, the port is connected, a pulse has an output and an
acquisition an input to go to, the module is one this compiler targets (QCM, QRM, QCM-RF,
QRM-RF; complex, real and digital channels), the NCO frequency is in range, and no module needs
more sequencers than it has.

What the hardware config says about a port-clock's sequencer is gathered here too: its marker
bits, the RF switch bits it holds, its mixer corrections and its latency correction.

Latency corrections are relative, as in the reference (quantify-scheduler's
``determine_relative_latency_corrections``): over the port-clocks of one job (a port-clock
without a correction counts as 0), the smallest correction becomes 0 and the others the
difference to it, since the hardware cannot play earlier than "now". A negative correction thus
delays every other port-clock. The timeline moves every event of the port-clock that late.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics, op_path
from qconductor.adapters.qblox.compiler.settings import (
    MODULE_IO,
    NCO_LIMIT_HZ,
    RF_SWITCH_MARKERS,
    MixerCorrection,
)
from qconductor.protocol.compiled import ModuleType
from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError
from qconductor.protocol.hardware import (
    FrequencyPlan,
    HardwareConfig,
    PortClockOptions,
    PortRoute,
    solve_frequencies,
)
from qconductor.protocol.schedule import (
    ACQUISITION_TYPES,
    PULSE_TYPES,
    Conditional,
    Delay,
    Idle,
    Loop,
    MarkerPulse,
    Schedule,
    TimedOperation,
    VoltageOffset,
)

NEEDS_OUTPUT = (*PULSE_TYPES, VoltageOffset, MarkerPulse)
_NEEDS_OUTPUT: frozenset[type[Any]] = frozenset(NEEDS_OUTPUT)  # set lookups: once per operation
_ACQUISITIONS: frozenset[type[Any]] = frozenset(ACQUISITION_TYPES)
# on no port: they occupy or stretch time (loops and conditional blocks arrive flattened)
_UNTIMED = (Idle, Delay, Loop, Conditional)
_UNTIMED_TYPES: frozenset[type[Any]] = frozenset(_UNTIMED)


@dataclass
class Allocation:
    """One sequencer and everything the later passes need to know about it."""

    port: str
    clock: str
    cluster: str
    slot: int
    module_type: ModuleType
    index: int
    nco_freq: float
    clock_freq: float
    outputs: list[str]
    inputs: list[str]
    plan: FrequencyPlan
    options: PortClockOptions | None = None  # the hardware options of this port-clock
    marker_bits: int = 0  # the digital outputs this port raises (marker pulses)
    switch_bits: int = 0  # RF output switches held high for the whole program (rf_output_on)
    mixer: MixerCorrection = field(default_factory=MixerCorrection)
    latency_ns: int = 0  # latency correction: every event of this port-clock moves this late
    ops_in_order: bool = True  # ops were added in start order (the timeline can skip a sort)
    last_start: int = 0
    ops: list[tuple[int, TimedOperation]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.cluster}.module{self.slot}.sequencer{self.index} ({self.port}-{self.clock})"

    @cached_property
    def real_mode(self) -> bool:
        """True when the port is driven by a real output: only path 0 (I) leaves the module."""
        return any(c.startswith("real_output_") for c in self.outputs)

    @cached_property
    def analog(self) -> bool:
        """True when the port has an analog output (pulses and offsets can play)."""
        return any(not c.startswith("digital_output_") for c in self.outputs)


class Allocated(NamedTuple):
    sequencers: dict[tuple[str, str], Allocation]  # by (port, clock)
    duration: int  # the schedule's duration (``Schedule.duration``), found on the way


def allocate(
    schedule: Schedule,
    hardware: HardwareConfig,
    diag: Diagnostics,
    ops: Sequence[tuple[int, TimedOperation]] | None = None,
) -> Allocated:
    """``ops``: (index, operation) to allocate, by default the schedule's (with loops: the
    flattened operations, see :mod:`.loops`; the duration is then that of their segments)."""
    allocations: dict[tuple[str, str], Allocation] = {}
    rejected: set[tuple[str, str]] = set()
    next_index: dict[tuple[str, int], int] = {}
    duration = 0
    op: Any  # on a port once the untimed kinds are skipped (by exact type: a set lookup)
    for index, timed in enumerate(schedule.operations) if ops is None else ops:
        op = timed.op
        start = timed.start
        if start + op.duration > duration:
            duration = start + op.duration
        kind = type(op)
        if kind in _UNTIMED_TYPES:
            continue
        key = (op.port, op.clock)
        alloc = allocations.get(key)
        if alloc is None and key not in rejected:
            alloc = _new_allocation(schedule, hardware, index, timed, next_index, diag)
            if alloc is None:
                rejected.add(key)
            else:
                allocations[key] = alloc
        if alloc is None:
            continue
        if kind in _ACQUISITIONS and not alloc.inputs:
            diag.error(
                ErrorCode.PORT_CLOCK_NO_INPUT,
                f"acquires on port {op.port!r}, but no input channel is connected to it",
                op_path(index, "port"),
                hint="connect the port to a QRM's complex_input_0 in the connectivity graph",
            )
        elif kind in _NEEDS_OUTPUT and not alloc.outputs:
            diag.error(
                ErrorCode.PORT_CLOCK_NO_OUTPUT,
                f"plays on port {op.port!r}, but no output channel is connected to it",
                op_path(index, "port"),
            )
        if start < alloc.last_start:
            alloc.ops_in_order = False
        alloc.last_start = start
        alloc.ops.append((index, timed))
    _relative_latencies(allocations)
    return Allocated(allocations, duration)


def _relative_latencies(allocations: dict[tuple[str, str], Allocation]) -> None:
    """Each allocation's latency correction minus the smallest one of the job (see above)."""
    corrections = {
        key: (alloc.options and alloc.options.latency_correction_ns) or 0
        for key, alloc in allocations.items()
    }
    earliest = min(corrections.values(), default=0)
    for key, alloc in allocations.items():
        alloc.latency_ns = corrections[key] - earliest


def _new_allocation(
    schedule: Schedule,
    hardware: HardwareConfig,
    index: int,
    timed: TimedOperation,
    next_index: dict[tuple[str, int], int],
    diag: Diagnostics,
) -> Allocation | None:
    op = timed.op
    assert not isinstance(op, _UNTIMED)
    is_marker = isinstance(op, MarkerPulse)
    clock_freq = schedule.clocks.get(op.clock)
    key = (op.port, op.clock, is_marker, clock_freq, type(clock_freq))
    cache = _derived_cache(hardware)
    derived = cache.get(key)
    if derived is None:
        derived = _derive(schedule, hardware, index, op, is_marker, diag)
        if derived is None:
            return None
        if not derived.warnings:  # (a warning is reported afresh each time)
            if len(cache) >= DERIVED_CACHE_SIZE:
                cache.clear()
            cache[key] = derived
    cluster, slot, module_type = derived.module
    seq = next_index.get((cluster, slot), 0)
    if seq >= MODULE_IO[module_type].sequencers:
        diag.error(
            ErrorCode.TOO_MANY_SEQUENCERS,
            f"port-clock {op.port}-{op.clock} needs a sequencer of {cluster}.module{slot}, "
            f"whose {MODULE_IO[module_type].sequencers} sequencers are all taken",
            op_path(index),
            hint="use fewer distinct clocks on this module's ports",
        )
        return None
    next_index[(cluster, slot)] = seq + 1
    diag.items.extend(derived.warnings)
    return Allocation(index=seq, **derived.fields)


@dataclass(frozen=True)
class _Derived:
    """What the hardware config says about one port-clock (for one clock frequency): the
    fields of its :class:`Allocation` but the sequencer index, and the warnings found."""

    module: tuple[str, int, ModuleType]
    fields: dict[str, Any]
    warnings: list[Diagnostic]


DERIVED_CACHE_SIZE = 1024  # port-clocks (with clock frequency) kept per hardware config
_DERIVED: dict[int, tuple[HardwareConfig, dict[tuple[Any, ...], _Derived]]] = {}


def _derived_cache(hardware: HardwareConfig) -> dict[tuple[Any, ...], _Derived]:
    """The derivations made from one config object (frozen; a daemon compiles many schedules
    against one config): by (port, clock, marker pulse or not, clock frequency), only those
    that found no problem. At most 16 configs are kept."""
    cached = _DERIVED.get(id(hardware))
    if cached is None or cached[0] is not hardware:
        if len(_DERIVED) >= 16:
            _DERIVED.clear()
        cached = _DERIVED[id(hardware)] = (hardware, {})
    return cached[1]


def _derive(
    schedule: Schedule,
    hardware: HardwareConfig,
    index: int,
    op: Any,
    is_marker: bool,
    diag: Diagnostics,
) -> _Derived | None:
    if op.clock not in schedule.clocks and not is_marker:
        diag.error(
            ErrorCode.CLOCK_UNDEFINED,
            f"uses clock {op.clock!r}, which the schedule does not define",
            op_path(index, "clock"),
            hint=_closest("defined clocks", op.clock, list(schedule.clocks)),
        )
        return None
    route = hardware.route(op.port)
    if route is None:
        diag.error(
            ErrorCode.PORT_NOT_CONNECTED,
            f"uses port {op.port!r}, which no edge of the hardware config's connectivity reaches",
            op_path(index, "port"),
            hint=_closest("connected ports", op.port, hardware.ports()),
        )
        return None
    module = _module_of(route, index, diag)
    if module is None:
        return None
    options = hardware.options_for(op.port, op.clock)
    try:
        plan = (
            FrequencyPlan(nco_freq=0.0, lo_freq=None, nco_enabled=False)
            if is_marker
            else solve_frequencies(
                schedule.clocks[op.clock],
                route,
                options,
                path=f"hardware_options.modulation_frequencies.{op.port}-{op.clock}",
            )
        )
    except QconductorError as exc:
        diag.add(exc)
        return None
    if abs(plan.nco_freq) > NCO_LIMIT_HZ:
        diag.error(
            ErrorCode.NCO_OUT_OF_RANGE,
            f"needs an NCO frequency of {plan.nco_freq / 1e6:.3f} MHz for clock {op.clock!r} "
            f"({schedule.clocks[op.clock] / 1e6:.3f} MHz); the NCO reaches ±500 MHz",
            op_path(index, "clock"),
            hint="set modulation_frequencies (interm_freq or lo_freq) for this port-clock",
        )
        return None
    found = Diagnostics()  # reported once the sequencer is granted
    fields = dict(
        port=op.port,
        clock=op.clock,
        cluster=module[0],
        slot=module[1],
        module_type=module[2],
        nco_freq=plan.nco_freq,
        plan=plan,
        options=options,
        clock_freq=schedule.clocks.get(op.clock, 0.0),
        marker_bits=_marker_bits(route),
        switch_bits=_switch_bits(hardware, route, found),
        mixer=_mixer(options),
        outputs=[c.channel for c in route.outputs],
        inputs=[c.channel for c in route.inputs],
    )
    return _Derived(module, fields, found.items)


def _module_of(
    route: PortRoute, index: int, diag: Diagnostics
) -> tuple[str, int, ModuleType] | None:
    channels = [*route.outputs, *route.inputs]
    modules = {(c.cluster, c.slot, c.module_type) for c in channels}
    if len(modules) != 1:
        names = ", ".join(sorted(f"{c}.module{s}" for c, s, _ in modules))
        diag.error(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"port {route.port!r} is wired to several modules ({names}); "
            "this compiler drives a port from one module",
            op_path(index, "port"),
        )
        return None
    cluster, slot, module_type = modules.pop()
    if module_type not in MODULE_IO:
        diag.error(
            ErrorCode.UNSUPPORTED_OPERATION,
            f"port {route.port!r} is wired to a {module_type} module ({cluster}.module{slot}); "
            "this compiler targets the QCM, QRM, QCM-RF and QRM-RF",
            op_path(index, "port"),
        )
        return None
    return cluster, slot, module_type


def _marker_bits(route: PortRoute) -> int:
    """The marker bits of the port's digital outputs (QCM/QRM: digital_output_n is bit n; the
    RF modules have their own table, see ``MODULE_SPECS``)."""
    bits = 0
    for ref in route.outputs:
        if ref.is_digital and ref.marker_bit is not None:
            bits |= ref.marker_bit
    return bits


def _switch_bits(hardware: HardwareConfig, route: PortRoute, diag: Diagnostics) -> int:
    """The RF switch bits this port's sequencer holds for its whole program, as the reference
    does (``set_mrk`` of the channel's default marker) when the module's ``rf_output_on`` is
    true. qblox-scheduler's ``"auto"`` (switch around pulses only) holds them too: on for
    longer, never off while a pulse plays. False: no bits (the reference leaves switching to
    RF-switch operations, which qconductor does not have yet), with a warning."""
    bits = 0
    for ref in (*route.outputs, *route.inputs):
        table = RF_SWITCH_MARKERS.get(ref.module_type)
        if table is None:
            continue
        instrument = hardware.hardware_description[ref.cluster]
        module = getattr(instrument, "modules", {})[ref.slot]
        if getattr(module, "rf_output_on", True) is False:
            if ref.is_output and ref.is_complex:
                diag.warning(
                    ErrorCode.CONFIG_BAD_VALUE,
                    f"rf_output_on is false on {ref.cluster}.module{ref.slot}, so its RF output "
                    f"switch stays open: what port {route.port!r} plays does not leave the "
                    "module",
                    f"hardware_description.{ref.cluster}.modules.{ref.slot}.rf_output_on",
                    hint="set rf_output_on to true (RF-switch operations are not supported)",
                )
            continue
        bits |= table.get(ref.channel, 0)
    return bits


def _mixer(options: PortClockOptions) -> MixerCorrection:
    """The port-clock's amplitude ratio and phase error (neutral when unset; ``options_for``
    already neutralises them under automatic sideband calibration)."""
    corrections = options.mixer_corrections
    if corrections is None:
        return MixerCorrection()
    return MixerCorrection(
        gain_ratio=1.0 if corrections.amp_ratio is None else corrections.amp_ratio,
        phase_offset_degree=0.0 if corrections.phase_error is None else corrections.phase_error,
    )


def _closest(what: str, name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=3)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}?"
    shown = ", ".join(sorted(candidates)[:8]) or "none"
    return f"{what}: {shown}"
