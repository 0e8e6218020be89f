"""Derived views the compiler needs: the options of one port-clock, and port-clock keys.

``options_for`` returns the options that apply to one port and clock, ``None`` where unset. The
reference's automatic-calibration overrides are applied: with ``auto_lo_cal`` on, the DC offsets
read as None; with ``auto_sideband_cal`` on, ``amp_ratio`` and ``phase_error`` read as their
defaults (1.0 and 0.0). The stored config itself is never altered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .options import (
    ComplexInputGain,
    DigitizationThresholds,
    HardwareDistortionCorrection,
    HardwareOptions,
    MixerCorrections,
    ModulationFrequencies,
    NetZeroPulseParameters,
    SequencerOptions,
    SoftwareDistortionCorrection,
)

Distortion = (
    SoftwareDistortionCorrection | HardwareDistortionCorrection | list[HardwareDistortionCorrection]
)


def port_clock_key(port: str, clock: str) -> str:
    """The hardware_options key of a port and a clock: ``"q0:mw-q0.01"``."""
    return f"{port}-{clock}"


def split_port_clock(key: str, known_ports: Iterable[str] = ()) -> tuple[str, str] | None:
    """Split ``"q0:mw-q0.01"`` into port and clock, preferring the longest known port the key
    starts with; otherwise split at the first ``-`` after the port's ``:``. None if the key has
    no clock part."""
    best = max(
        (p for p in known_ports if key.startswith(p + "-") and len(key) > len(p) + 1),
        key=len,
        default=None,
    )
    if best is not None:
        return best, key[len(best) + 1 :]
    dash = key.find("-", key.find(":") + 1)
    if dash <= 0 or dash == len(key) - 1:
        return None
    return key[:dash], key[dash + 1 :]


@dataclass(frozen=True)
class PortClockOptions:
    """The hardware options of one port-clock combination (None where unset)."""

    port: str
    clock: str
    modulation_frequencies: ModulationFrequencies | None = None
    mixer_corrections: MixerCorrections | None = None
    input_gain: int | ComplexInputGain | None = None
    output_att: float | None = None
    input_att: float | None = None
    latency_correction: float | None = None
    """Seconds, as configured; see ``latency_correction_ns``."""
    sequencer_options: SequencerOptions | None = None
    digitization_thresholds: DigitizationThresholds | None = None
    distortion: Distortion | None = None
    net_zero_pulse_parameters: NetZeroPulseParameters | None = None
    crosstalk: Mapping[str, float | complex] | None = None
    """Crosstalk factors from this port-clock to other port-clocks."""

    @property
    def key(self) -> str:
        return port_clock_key(self.port, self.clock)

    @property
    def interm_freq(self) -> float | None:
        return self.modulation_frequencies.interm_freq if self.modulation_frequencies else None

    @property
    def lo_freq(self) -> float | None:
        return self.modulation_frequencies.lo_freq if self.modulation_frequencies else None

    @property
    def latency_correction_ns(self) -> int | None:
        """The latency correction rounded to whole nanoseconds, as the reference does."""
        if self.latency_correction is None:
            return None
        return round(self.latency_correction * 1e9)

    def path(self, option: str) -> str:
        """The config path of this port-clock's entry in ``option``, for diagnostics:
        ``hardware_options.modulation_frequencies.q0:mw-q0.01``."""
        return f"hardware_options.{option}.{self.key}"


def _effective_mixer(corrections: MixerCorrections | None) -> MixerCorrections | None:
    if corrections is None:
        return None
    update: dict[str, Any] = {}
    if corrections.auto_lo_cal != "off":
        update |= {"dc_offset_i": None, "dc_offset_q": None}
    if corrections.auto_sideband_cal != "off":
        update |= {"amp_ratio": 1.0, "phase_error": 0.0}
    return corrections.model_copy(update=update) if update else corrections


def options_for(options: HardwareOptions, port: str, clock: str) -> PortClockOptions:
    """Collect every option that applies to ``port`` with ``clock``."""
    key = port_clock_key(port, clock)

    def get(field: str) -> Any:
        table = getattr(options, field)
        return None if table is None else table.get(key)

    crosstalk = options.crosstalk.get(key) if options.crosstalk else None
    return PortClockOptions(
        port=port,
        clock=clock,
        modulation_frequencies=get("modulation_frequencies"),
        mixer_corrections=_effective_mixer(get("mixer_corrections")),
        input_gain=get("input_gain"),
        output_att=get("output_att"),
        input_att=get("input_att"),
        latency_correction=get("latency_corrections"),
        sequencer_options=get("sequencer_options"),
        digitization_thresholds=get("digitization_thresholds"),
        distortion=get("distortion_corrections"),
        net_zero_pulse_parameters=get("net_zero_pulse_parameters"),
        crosstalk=crosstalk,
    )
