"""External local oscillators: what the compiler decides for each, and the daemon then sets.

An external LO (``instrument_type: "LocalOscillator"`` in ``hardware_description``; a laser
feeding an optical modulator counts too) feeds an IQ mixer or optical modulator, and the
compiler's frequency solve (:func:`~qconductor.protocol.hardware.solve_frequencies`) decides per
port-clock what it must run at (``RF = LO + IF``). :func:`lo_settings` gathers those decisions
into one :class:`LoSetting` per LO the job uses, with the parameter names and power from the
config, and refuses a job whose port-clocks need one LO at different frequencies.

As in the reference (quantify-scheduler's ``LocalOscillatorCompiler``), an LO no port-clock of the
job uses gets no setting: the daemon leaves it as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from .errors import Diagnostic, ErrorCode, QconductorError
from .hardware import FrequencyPlan, HardwareConfig
from .hardware.description import LocalOscillatorDescription

__all__ = ["LoSetting", "lo_settings"]


class LoSetting(BaseModel):
    """The state one external LO must be in before a job is armed.

    Parameter names are the instrument driver's (qcodes) names, taken from the hardware config;
    a dotted name (``"ch1.frequency"``) reaches a parameter of a submodule. ``None`` for a value
    means "leave it as it is".
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: str
    """The LO's key in ``hardware_description`` (``"lo_drive"``)."""
    instrument_name: str
    """The instrument in the lab (the config's ``instrument_name``, else ``name``): the daemon
    finds the LO's adapter by it."""
    frequency_param: str
    """The instrument parameter that sets the frequency (config ``frequency_param``)."""
    frequency: float | None
    """Frequency in Hz (``RF = LO + IF`` solved for the job's port-clocks); None: leave it."""
    power_param: str | None
    """The instrument parameter that sets the output power (config ``power_param``); None for
    an instrument without one."""
    power: float | None
    """Output power in the instrument's unit (dBm for a microwave source), from the config's
    ``power``; None: leave it."""
    output_enabled: bool = True
    """Switch the output on (False: off) through the adapter's status parameter, if it has
    one."""


def _hz(value: float) -> str:
    return f"{value:.9g} Hz"


def _entry_path(hardware: HardwareConfig, key: str, lo: str) -> str:
    """The config entry to blame for a port-clock's LO frequency: its modulation_frequencies
    entry when it has one, else the LO's description."""
    table = hardware.hardware_options.modulation_frequencies or {}
    if key in table:
        return f"hardware_options.modulation_frequencies.{key}"
    return f"hardware_description.{lo}"


def _describe(hardware: HardwareConfig, name: str, key: str) -> LocalOscillatorDescription:
    description = hardware.hardware_description.get(name)
    if not isinstance(description, LocalOscillatorDescription):
        found = "nothing" if description is None else f"a {description.instrument_type}"
        raise QconductorError(
            ErrorCode.CONFIG_UNKNOWN_INSTRUMENT,
            f"port-clock {key} is planned through the local oscillator '{name}', but "
            f"hardware_description names {found} by that name",
            f"hardware_description.{name}",
            hint="the frequency plans must come from this hardware config",
        )
    return description


def _conflict(
    first: tuple[str, float], key: str, frequency: float, lo: str, path: str
) -> Diagnostic:
    return Diagnostic(
        code=ErrorCode.CONFIG_FREQUENCY_INCONSISTENT,
        message=f"port-clocks {first[0]} and {key} both go through the local oscillator "
        f"'{lo}' but need it at {_hz(first[1])} and {_hz(frequency)}; one LO runs at one "
        "frequency",
        path=path,
        hint="make lo_freq (or clock frequency - interm_freq) the same for every port-clock "
        "on this LO, or use one of them at a time",
    )


def _alias_conflicts(settings: list[LoSetting]) -> list[Diagnostic]:
    """Two LO entries naming one instrument must agree on each parameter they both set."""
    out: list[Diagnostic] = []
    seen: dict[tuple[str, str], tuple[str, float]] = {}  # (instrument, param) -> (LO, value)
    for setting in settings:
        for param, value in (
            (setting.frequency_param, setting.frequency),
            (setting.power_param, setting.power),
        ):
            if param is None or value is None:
                continue
            first, other = seen.setdefault((setting.instrument_name, param), (setting.name, value))
            if not math.isclose(other, value):
                out.append(
                    Diagnostic(
                        code=ErrorCode.CONFIG_FREQUENCY_INCONSISTENT,
                        message=f"local oscillators '{first}' and '{setting.name}' are one "
                        f"instrument '{setting.instrument_name}', but need its {param} at "
                        f"{other:.9g} and {value:.9g}",
                        path=f"hardware_description.{setting.name}.instrument_name",
                        hint="give each LO entry its own instrument",
                    )
                )
    return out


def lo_settings(hardware: HardwareConfig, plans: Mapping[str, FrequencyPlan]) -> list[LoSetting]:
    """One setting per external LO the job uses, sorted by LO name.

    ``plans`` maps each port-clock key the job uses (``"q0:mw-q0.01"``, as
    :func:`~qconductor.protocol.hardware.port_clock_key` writes it) to what
    :func:`~qconductor.protocol.hardware.solve_frequencies` decided for it; plans without an
    external LO (baseband, internal LO of an RF module) are skipped. Frequencies agree when
    ``math.isclose`` says so (relative 1e-9, as the frequency solve); the first port-clock in
    key order sets the value.

    Raises ``QconductorError`` with code ``CONFIG_FREQUENCY_INCONSISTENT`` (every conflict in
    ``details``; the path is the ``modulation_frequencies`` entry of the port-clock that
    disagrees) when port-clocks need one LO (or two LO entries naming one instrument need it)
    at different values, and ``CONFIG_UNKNOWN_INSTRUMENT`` when a plan names an LO the config
    does not describe.
    """
    chosen: dict[str, tuple[str, float]] = {}  # LO name -> (first port-clock, frequency)
    diagnostics: list[Diagnostic] = []
    for key in sorted(plans):
        plan = plans[key]
        if plan.lo_kind != "external" or plan.lo_name is None or plan.lo_freq is None:
            continue
        lo = plan.lo_name
        _describe(hardware, lo, key)
        first = chosen.setdefault(lo, (key, plan.lo_freq))
        if not math.isclose(first[1], plan.lo_freq):
            path = _entry_path(hardware, key, lo)
            diagnostics.append(_conflict(first, key, plan.lo_freq, lo, path))
    settings = []
    for lo, (key, frequency) in sorted(chosen.items()):
        description = _describe(hardware, lo, key)
        settings.append(
            LoSetting(
                name=lo,
                instrument_name=description.instrument_name or lo,
                frequency_param=description.frequency_param,
                frequency=frequency,
                power_param=description.power_param,
                power=None if description.power is None else float(description.power),
            )
        )
    diagnostics += _alias_conflicts(settings)
    if diagnostics:
        raise QconductorError.from_diagnostics(
            ErrorCode.CONFIG_FREQUENCY_INCONSISTENT, "local oscillator settings", diagnostics
        )
    return settings
