"""Module-level parameters of a compiled job, under the driver's parameter names.

Every module of a cluster the job uses is set completely, so nothing leaks from a previous job:
what the port-clocks of the job ask for (from the hardware config), and a neutral value (the
module's reset state) for everything else. Per module type (qblox-instruments 1.4 names, units
and ranges; which option feeds which parameter as quantify-scheduler 0.28 does it):

- QCM / QRM: ``out{k}_offset`` (volts) from the ``dc_offset_i``/``dc_offset_q`` mixer
  corrections of a port-clock on ``complex_output_n`` (I on ``2n``, Q on ``2n+1``), else 0 V.
  QRM: ``in0_gain``/``in1_gain`` (dB) from ``input_gain``: a complex gain sets both, a real
  gain the input numbered like the port's channel (its output if it has one); else 0 dB.
- QCM-RF / QRM-RF: ``out{n}_offset_path0/1`` in millivolts (the config gives volts);
  ``out{n}_att`` from ``output_att`` and (QRM-RF) ``in0_att`` from ``input_att``, as integers
  in dB (even steps, checked when the config loads), else 0 dB; the internal LO
  ``out{n}_lo_freq`` (QCM-RF, one per output) or ``out0_in0_lo_freq`` (QRM-RF, shared by output
  and input) from the frequency plan, with its ``..._lo_en`` true; an LO no port-clock of the
  job uses is switched off (``..._lo_en`` false) and its frequency left alone.
- The scope-acquisition parameters the sequencers' operations need (``module_settings``).

Two port-clocks of one job asking one parameter for different values is an error naming the
config entry of the second one (``CONFIG_FREQUENCY_INCONSISTENT`` for an LO frequency,
``CONFIG_BAD_VALUE`` otherwise); the config loader only warns about such pairs, since they are
fine as long as no schedule uses both.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from qconductor.adapters.qblox.compiler.context import SeqContext
from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics
from qconductor.adapters.qblox.compiler.settings import MODULE_IO
from qconductor.protocol.compiled import ModuleType, ParameterValue
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.hardware import HardwareConfig, PortClockOptions, parse_channel_name
from qconductor.protocol.hardware.options import ComplexInputGain

INTERNAL_LO_RANGE_HZ = (2e9, 18e9)
"""What ``out{n}_lo_freq`` / ``out0_in0_lo_freq`` accept (qblox-instruments 1.4 validators)."""


@dataclass
class _Wanted:
    """The parameters asked for so far, with the port-clock and config entry that asked."""

    diag: Diagnostics
    where: str
    values: dict[str, ParameterValue] = field(default_factory=dict)
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (key, path)

    def want(self, name: str, value: ParameterValue, key: str, path: str) -> None:
        if name not in self.sources:
            self.values[name], self.sources[name] = value, (key, path)
            return
        old = self.values[name]
        if _same(old, value):
            return
        first = self.sources[name][0]
        frequency = name.endswith("lo_freq")
        self.diag.error(
            ErrorCode.CONFIG_FREQUENCY_INCONSISTENT if frequency else ErrorCode.CONFIG_BAD_VALUE,
            f"port-clocks {first} and {key} both set {name} of {self.where}, to {old:g} and "
            f"{value:g}; one module parameter holds one value, so one job cannot use both",
            path,
            hint=f"give every port-clock on this {'LO' if frequency else 'output'} the same "
            "value, or use them in separate jobs",
        )


def _same(a: ParameterValue, b: ParameterValue) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _index(channel: str) -> int:
    parsed = parse_channel_name(channel)
    assert parsed is not None  # channels come from a validated config
    return parsed.index


def module_parameters(
    hardware: HardwareConfig,
    cluster: str,
    slot: int,
    module_type: ModuleType,
    sequencers: Sequence[SeqContext],
) -> dict[str, ParameterValue]:
    """The parameters of one module: what ``sequencers`` (the used ones) need, neutral values
    for the rest. Conflicts go to the sequencers' diagnostics."""
    if not sequencers:
        return dict(neutral_parameters(module_type))
    wanted = _Wanted(sequencers[0].diag, f"{cluster}.module{slot}")
    for ctx in sorted(sequencers, key=lambda c: c.alloc.index):
        alloc = ctx.alloc
        options = ctx.options or hardware.options_for(alloc.port, alloc.clock)
        if MODULE_IO[module_type].rf:
            _rf(wanted, module_type, ctx, options)
        else:
            _baseband(wanted, module_type, ctx, options)
    parameters: dict[str, ParameterValue] = dict(wanted.values)
    for name, value in neutral_parameters(module_type).items():
        parameters.setdefault(name, value)
    for ctx in sequencers:
        parameters.update(ctx.module_settings)
    return parameters


@functools.cache
def neutral_parameters(module_type: ModuleType) -> Mapping[str, ParameterValue]:
    """The value of every module parameter the compiler sets when no port-clock asks for it
    (read-only: one mapping per module type serves every job)."""
    io = MODULE_IO[module_type]
    out: dict[str, ParameterValue] = {}
    if not io.rf:
        out |= {f"out{k}_offset": 0.0 for k in range(io.outputs)}
        out |= {f"in{k}_gain": 0 for k in range(io.inputs)}
        return MappingProxyType(out)
    for n in range(io.outputs):
        out |= {f"out{n}_offset_path0": 0.0, f"out{n}_offset_path1": 0.0, f"out{n}_att": 0}
    if module_type == "QRM_RF":
        out |= {"in0_att": 0, "out0_in0_lo_en": False}
    else:
        out |= {f"out{n}_lo_en": False for n in range(io.outputs)}
    return MappingProxyType(out)


def _complex_outputs(ctx: SeqContext) -> list[int]:
    return [_index(c) for c in ctx.alloc.outputs if c.startswith("complex_output_")]


def _offsets(
    wanted: _Wanted, ctx: SeqContext, options: PortClockOptions, names: Sequence[tuple[str, str]]
) -> None:
    """DC offsets of the port-clock's complex outputs: ``names`` holds the (I, Q) parameter
    names of each."""
    corrections = options.mixer_corrections
    if corrections is None:
        return
    scale = 1e3 if MODULE_IO[ctx.alloc.module_type].rf else 1.0  # RF: millivolts
    path = options.path("mixer_corrections")
    for name_i, name_q in names:
        for name, volts, attr in (
            (name_i, corrections.dc_offset_i, "dc_offset_i"),
            (name_q, corrections.dc_offset_q, "dc_offset_q"),
        ):
            if volts is not None:
                wanted.want(name, round(volts * scale, 9), options.key, f"{path}.{attr}")


def _baseband(
    wanted: _Wanted, module_type: ModuleType, ctx: SeqContext, options: PortClockOptions
) -> None:
    outputs = _complex_outputs(ctx)
    _offsets(
        wanted,
        ctx,
        options,
        [(f"out{2 * n}_offset", f"out{2 * n + 1}_offset") for n in outputs],
    )
    gain = options.input_gain
    if module_type != "QRM" or gain is None or not ctx.alloc.inputs:
        return
    path = options.path("input_gain")
    if isinstance(gain, ComplexInputGain):
        wanted.want("in0_gain", gain.gain_I, options.key, f"{path}.gain_I")
        wanted.want("in1_gain", gain.gain_Q, options.key, path + ".gain_Q")
        return
    analog = [c for c in (*ctx.alloc.outputs, *ctx.alloc.inputs) if not c.startswith("digital")]
    wanted.want(f"in{_index(analog[0])}_gain", gain, options.key, path)


def _rf(
    wanted: _Wanted, module_type: ModuleType, ctx: SeqContext, options: PortClockOptions
) -> None:
    outputs = _complex_outputs(ctx)
    _offsets(
        wanted,
        ctx,
        options,
        [(f"out{n}_offset_path0", f"out{n}_offset_path1") for n in outputs],
    )
    if options.output_att is not None:
        for n in outputs:
            wanted.want(
                f"out{n}_att", int(options.output_att), options.key, options.path("output_att")
            )
    if options.input_att is not None and module_type == "QRM_RF":
        wanted.want("in0_att", int(options.input_att), options.key, options.path("input_att"))
    plan = ctx.alloc.plan
    if plan.lo_kind != "internal" or plan.lo_freq is None:
        return
    path = options.path("modulation_frequencies")
    low, high = INTERNAL_LO_RANGE_HZ
    if not low <= plan.lo_freq <= high:
        ctx.diag.error(
            ErrorCode.CONFIG_BAD_VALUE,
            f"port-clock {options.key} needs the internal LO of {wanted.where} at "
            f"{plan.lo_freq:.9g} Hz; it runs from {low:g} to {high:g} Hz",
            path,
            hint="change lo_freq or interm_freq (RF = LO + IF) for this port-clock",
        )
        return
    los = ["out0_in0"] if module_type == "QRM_RF" else [f"out{n}" for n in outputs]
    for lo in los:
        wanted.want(f"{lo}_lo_freq", plan.lo_freq, options.key, path)
        wanted.want(f"{lo}_lo_en", True, options.key, path)
