"""Semantic checks of ``hardware_options`` against the routes (after the model validated).

Every check adds diagnostics and goes on; nothing stops at the first problem. What the reference
accepts but ignores (an attenuation on a baseband module, an entry for a port nothing connects)
is a warning here; what it rejects, at load or at compile time, is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import Diagnostic, ErrorCode
from .channels import MODULE_SPECS, NCO_MAX_HZ, ChannelRef
from .graph import suggest
from .options import (
    PORT_CLOCK_OPTIONS,
    ComplexInputGain,
    HardwareDistortionCorrection,
    HardwareOptions,
    MixerCorrections,
    ModulationFrequencies,
)
from .routing import PortRoute
from .views import split_port_clock

Check = Callable[[str, str, PortRoute, Any], list[Diagnostic]]


def _error(code: ErrorCode, message: str, path: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code=code, message=message, path=path, hint=hint)


def _warning(code: ErrorCode, message: str, path: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code=code, message=message, path=path, hint=hint, severity="warning")


def _no_effect(path: str, what: str, why: str) -> Diagnostic:
    return _warning(ErrorCode.CONFIG_BAD_VALUE, f"{what} has no effect: {why}", path)


class _OptionsChecker:
    def __init__(self, options: HardwareOptions, routes: Mapping[str, PortRoute]) -> None:
        self.options = options
        self.routes = routes
        self.out: list[Diagnostic] = []
        # (what, physical thing) -> first (value, path) seen
        self.shared: dict[tuple[str, Any], tuple[Any, str]] = {}

    def run(self) -> list[Diagnostic]:
        checks: dict[str, Check] = {
            "modulation_frequencies": self._modulation,
            "mixer_corrections": self._mixer,
            "input_gain": self._input_gain,
            "output_att": self._output_att,
            "input_att": self._input_att,
            "distortion_corrections": self._distortion,
            "latency_corrections": self._latency,
            "sequencer_options": self._sequencer,
        }
        for option in PORT_CLOCK_OPTIONS:
            table: Mapping[str, Any] | None = getattr(self.options, option)
            for key, value in (table or {}).items():
                path = f"hardware_options.{option}.{key}"
                route = self._route(key, path)
                if route is not None and option in checks:
                    self.out += checks[option](key, path, route, value)
        self._crosstalk()
        return self.out

    def _route(self, key: str, path: str) -> PortRoute | None:
        split = split_port_clock(key, self.routes)
        if split is None:
            self.out.append(
                _warning(
                    ErrorCode.CONFIG_UNUSED_PORT,
                    f"key '{key}' is not a port-clock combination; this entry applies to nothing",
                    path,
                    "write 'port-clock', e.g. 'q0:mw-q0.01'",
                )
            )
            return None
        port = split[0]
        route = self.routes.get(port)
        if route is None:
            self.out.append(self._unused(port, path))
        return route

    def _unused(self, port: str, path: str) -> Diagnostic:
        return _warning(
            ErrorCode.CONFIG_UNUSED_PORT,
            f"port '{port}' is not connected to anything; this entry has no effect",
            path,
            suggest(port, sorted(self.routes), "connected ports"),
        )

    def _same_everywhere(self, what: str, thing: Any, value: Any, path: str, label: str) -> None:
        """Two port-clocks setting one physical setting differently cannot both be used in one
        schedule. The reference only fails when a schedule does so; here it is a warning."""
        first = self.shared.setdefault((what, thing), (value, path))
        if first[1] != path and not _same(first[0], value):
            self.out.append(
                _warning(
                    ErrorCode.CONFIG_FREQUENCY_INCONSISTENT
                    if what == "lo_freq"
                    else ErrorCode.CONFIG_BAD_VALUE,
                    f"{what} {value} differs from {first[0]} at {first[1]}, and both set "
                    f"{label}: a schedule cannot use both port-clocks",
                    path,
                    f"give every port-clock on {label} the same {what}",
                )
            )

    # --- per option ------------------------------------------------------------------------

    def _modulation(
        self, key: str, path: str, route: PortRoute, value: ModulationFrequencies
    ) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        if value.interm_freq is not None and abs(value.interm_freq) > NCO_MAX_HZ:
            out.append(
                _warning(
                    ErrorCode.CONFIG_BAD_VALUE,
                    f"interm_freq {value.interm_freq:g} Hz is beyond the NCO range: the "
                    "hardware cannot play this port-clock",
                    f"{path}.interm_freq",
                    f"the NCO runs from -{NCO_MAX_HZ:g} to {NCO_MAX_HZ:g} Hz",
                )
            )
        if value.lo_freq is None:
            return out
        channels = route.outputs or route.inputs
        externals = {p.lo.name for p in route.paths if p.lo is not None}
        if not route.is_rf and not externals:
            out.append(
                _no_effect(f"{path}.lo_freq", "lo_freq", f"no LO is on the path of '{route.port}'")
            )
        elif not route.is_rf and not route.mix_lo and len(route.paths) == 1:
            out.append(
                _no_effect(
                    f"{path}.lo_freq", "lo_freq", "with mix_lo false the LO follows the clock"
                )
            )
        elif route.is_rf and channels:
            ref = channels[0]
            lo = _internal_lo(ref)
            self._same_everywhere("lo_freq", lo, value.lo_freq, f"{path}.lo_freq", _lo_label(ref))
        elif len(externals) == 1:
            name = next(iter(externals))
            self._same_everywhere(
                "lo_freq", name, value.lo_freq, f"{path}.lo_freq", f"the LO '{name}'"
            )
        return out

    def _mixer(
        self, key: str, path: str, route: PortRoute, value: MixerCorrections
    ) -> list[Diagnostic]:
        out: list[Diagnostic] = []
        given = {k for k in value.model_fields_set if getattr(value, k) is not None}
        if value.auto_lo_cal != "off" and given & {"dc_offset_i", "dc_offset_q"}:
            out.append(
                _warning(
                    ErrorCode.CONFIG_BAD_VALUE,
                    f"auto_lo_cal '{value.auto_lo_cal}' overrides dc_offset_i/dc_offset_q",
                    path,
                    "leave the DC offsets out when automatic LO calibration is on",
                )
            )
        if value.auto_sideband_cal != "off" and given & {"amp_ratio", "phase_error"}:
            out.append(
                _warning(
                    ErrorCode.CONFIG_BAD_VALUE,
                    f"auto_sideband_cal '{value.auto_sideband_cal}' overrides amp_ratio/"
                    "phase_error",
                    path,
                    "leave amp_ratio and phase_error out when sideband calibration is on",
                )
            )
        for ref in route.outputs:
            limit = MODULE_SPECS[ref.module_type].dc_offset_max_v
            if not ref.is_complex or limit is None or value.auto_lo_cal != "off":
                continue
            for name in ("dc_offset_i", "dc_offset_q"):
                offset = getattr(value, name)
                if offset is not None and abs(offset) > limit:
                    out.append(
                        _error(
                            ErrorCode.CONFIG_BAD_VALUE,
                            f"{name} {offset} V is out of range for a {ref.module_type}",
                            f"{path}.{name}",
                            f"valid: -{limit:g} to {limit:g} V",
                        )
                    )
        return out

    def _input_gain(
        self, key: str, path: str, route: PortRoute, value: int | ComplexInputGain
    ) -> list[Diagnostic]:
        qrm = [c for c in route.inputs if c.module_type == "QRM"]
        if not route.inputs:
            return [_no_effect(path, "input_gain", f"nothing reads port '{route.port}'")]
        if not qrm:
            kinds = ", ".join(sorted({c.module_type for c in route.inputs}))
            return [
                _error(
                    ErrorCode.CONFIG_BAD_VALUE,
                    f"input_gain applies to QRM inputs, but port '{route.port}' is read by {kinds}",
                    path,
                    "RF readout modules use input_att",
                )
            ]
        complex_in = any(c.is_complex for c in qrm)
        if isinstance(value, ComplexInputGain) != complex_in:
            mode = "complex" if complex_in else "real"
            want = "{gain_I, gain_Q}" if complex_in else "a single integer"
            return [
                _error(
                    ErrorCode.CONFIG_BAD_VALUE,
                    f"port '{route.port}' is read by a {mode} input, so input_gain must be {want}",
                    path,
                )
            ]
        # As the reference: a complex gain sets in0 (I) and in1 (Q); a real gain sets the input
        # numbered like the port's main channel (its output if it has one).
        main = (route.outputs or tuple(qrm))[0]
        ref = qrm[0]
        gains = (
            {0: value.gain_I, 1: value.gain_Q}
            if isinstance(value, ComplexInputGain)
            else {main.index: value}
        )
        for index, gain in gains.items():
            label = f"{ref.cluster}.module{ref.slot} in{index}_gain"
            self._same_everywhere("input_gain", (ref.cluster, ref.slot, index), gain, path, label)
        return []

    def _attenuation(
        self, path: str, route: PortRoute, value: float, side: str, channels: tuple[ChannelRef, ...]
    ) -> list[Diagnostic]:
        name = f"{side}_att"
        for ref in channels:
            spec = MODULE_SPECS[ref.module_type]
            rng = spec.output_attenuation if side == "output" else spec.input_attenuation
            if rng is None:
                continue
            self._same_everywhere(name, _att_thing(ref, side), value, path, _att_label(ref, side))
            if not rng.allows(value):
                return [
                    _error(
                        ErrorCode.CONFIG_BAD_VALUE,
                        f"{name} {value:g} dB is not a valid attenuation on a {ref.module_type}",
                        path,
                        f"valid: {rng.describe()}",
                    )
                ]
            return []
        kinds = ", ".join(sorted({c.module_type for c in channels})) or "no module"
        return [_no_effect(path, name, f"port '{route.port}' has no {side} attenuator ({kinds})")]

    def _output_att(self, key: str, path: str, route: PortRoute, value: float) -> list[Diagnostic]:
        return self._attenuation(path, route, value, "output", route.outputs)

    def _input_att(self, key: str, path: str, route: PortRoute, value: float) -> list[Diagnostic]:
        return self._attenuation(path, route, value, "input", route.inputs + route.outputs)

    def _distortion(self, key: str, path: str, route: PortRoute, value: Any) -> list[Diagnostic]:
        for ref in route.outputs:
            if ref.is_real and isinstance(value, list):
                return [
                    _error(
                        ErrorCode.CONFIG_BAD_VALUE,
                        f"{len(value)} hardware distortion corrections for '{route.port}', which "
                        "is on a real channel",
                        path,
                        "a real channel takes one correction (an object, not a list)",
                    )
                ]
            if ref.is_complex and isinstance(value, HardwareDistortionCorrection):
                return [
                    _error(
                        ErrorCode.CONFIG_BAD_VALUE,
                        f"one hardware distortion correction for '{route.port}', which is on a "
                        "complex channel",
                        path,
                        "a complex channel takes a list of two corrections (I, Q)",
                    )
                ]
        return []

    def _latency(self, key: str, path: str, route: PortRoute, value: float) -> list[Diagnostic]:
        ns = value * 1e9
        if abs(ns - round(ns)) > 1e-6:
            return [
                _warning(
                    ErrorCode.CONFIG_BAD_VALUE,
                    f"latency correction {value} s is not a whole number of nanoseconds; it is "
                    f"rounded to {round(ns)} ns",
                    path,
                )
            ]
        return []

    def _sequencer(self, key: str, path: str, route: PortRoute, value: Any) -> list[Diagnostic]:
        if value.qasm_hook_func is not None:
            return [
                _warning(
                    ErrorCode.CONFIG_BAD_VALUE,
                    "qasm_hook_func is ignored: qconductor does not run user code while compiling",
                    f"{path}.qasm_hook_func",
                )
            ]
        return []

    def _crosstalk(self) -> None:
        for source, targets in (self.options.crosstalk or {}).items():
            self._route(source, f"hardware_options.crosstalk.{source}")
            for target in targets:
                self._route(target, f"hardware_options.crosstalk.{source}.{target}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(a, b)
    return bool(a == b)


def _internal_lo(ref: ChannelRef) -> tuple[str, int, int]:
    """QCM_RF/QRC: one LO per output; QRM_RF: one LO shared by output and input."""
    index = 0 if ref.module_type == "QRM_RF" or ref.is_input else ref.index
    return (ref.cluster, ref.slot, index)


def _lo_label(ref: ChannelRef) -> str:
    cluster, slot, index = _internal_lo(ref)
    return f"the internal LO {index} of {cluster}.module{slot}"


def _att_thing(ref: ChannelRef, side: str) -> tuple[str, int, str]:
    if side == "input":
        return (ref.cluster, ref.slot, "in0")
    return (ref.cluster, ref.slot, f"out{ref.index}")


def _att_label(ref: ChannelRef, side: str) -> str:
    return f"{ref.cluster}.module{ref.slot} {_att_thing(ref, side)[2]}_att"


def check_options(options: HardwareOptions, routes: Mapping[str, PortRoute]) -> list[Diagnostic]:
    """Every problem of ``hardware_options`` given the routes."""
    return _OptionsChecker(options, routes).run()


def check_optical_mix_lo(routes: Mapping[str, PortRoute]) -> list[Diagnostic]:
    """The reference warns when a channel driving a laser modulator has ``mix_lo`` false."""
    out: list[Diagnostic] = []
    seen: set[ChannelRef] = set()
    for route in routes.values():
        for path in route.paths:
            if path.mixer_type == "OpticalModulator" and not path.mix_lo:
                if path.channel in seen:
                    continue
                seen.add(path.channel)
                ref = path.channel
                out.append(
                    _warning(
                        ErrorCode.CONFIG_BAD_VALUE,
                        "mix_lo false on a channel that drives an optical modulator may behave "
                        "unexpectedly",
                        f"hardware_description.{ref.cluster}.modules.{ref.slot}.{ref.channel}"
                        ".mix_lo",
                    )
                )
    return out
