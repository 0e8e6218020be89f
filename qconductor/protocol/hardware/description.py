"""``hardware_description``: the instruments of the setup (clusters and their modules, external
local oscillators, IQ mixers, optical modulators).

Field names, defaults and accepted values follow quantify-scheduler 0.28 and qblox-scheduler 1.0
(the union of both where they differ, e.g. ``rf_output_on: "auto"`` and the cluster's ``port``
exist in qblox-scheduler only). Every model is closed: an unknown key is an error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from .channels import MAX_SLOT, MIN_SLOT


class ClosedModel(BaseModel):
    """Base of every config model: unknown keys are errors, instances are immutable, field
    docstrings become the JSON schema's descriptions."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


# --- channels --------------------------------------------------------------------------------


class ComplexChannelDescription(ClosedModel):
    """Settings of a complex (I/Q) input or output channel."""

    marker_debug_mode_enable: bool = False
    """Send a 4 ns marker pulse on the marker next to this channel with every operation."""
    mix_lo: bool = True
    """Whether the signal is IQ-mixed with the external LO (baseband modules). With False the LO
    runs at the clock frequency and the NCO is not mixed in. Always effectively True on RF
    modules."""
    downconverter_freq: float | None = None
    """Frequency (Hz) of a custom Qblox downconverter on this channel: the clock is seen as
    ``downconverter_freq - clock``. Only for that custom hardware."""
    distortion_correction_latency_compensation: int = 0
    """Bit mask of the real-time filters whose delay this channel compensates
    (exp0=2, exp1=4, exp2=8, exp3=16, fir=32; 0 = none)."""


class RealChannelDescription(ClosedModel):
    """Settings of a real (single-path) input or output channel."""

    marker_debug_mode_enable: bool = False
    """Send a 4 ns marker pulse on the marker next to this channel with every operation."""
    mix_lo: bool = True
    """Whether the signal is mixed with the external LO (see the complex channel)."""
    distortion_correction_latency_compensation: int = 0
    """Bit mask of the real-time filters whose delay this channel compensates."""


class DigitalChannelDescription(ClosedModel):
    """Settings of a digital channel (a marker output, or a QTM input/output)."""

    distortion_correction_latency_compensation: int = 0
    """Bit mask of the real-time filters whose delay this channel compensates."""


Complex = ComplexChannelDescription | None
Real = RealChannelDescription | None
Digital = DigitalChannelDescription | None


# --- modules -----------------------------------------------------------------------------------


class _Module(ClosedModel):
    sequence_to_file: bool = False
    """Write this module's sequencer programs to files."""
    sequencer_isa_version: tuple[int, int] | None = None
    """Q1 instruction set version of the sequencers (qblox-scheduler 1.0)."""


class _RFModule(_Module):
    rf_output_on: bool | Literal["auto"] = True
    """Whether the RF outputs are always on; False leaves switching to RF-switch operations,
    "auto" lets the compiler switch them (qblox-scheduler 1.0)."""


class QCMDescription(_Module):
    """A QCM: baseband control module, ±2.5 V outputs."""

    instrument_type: Literal["QCM"]
    """The module type."""
    complex_output_0: Complex = None
    """Outputs O1 and O2 as an I/Q pair."""
    complex_output_1: Complex = None
    """Outputs O3 and O4 as an I/Q pair."""
    real_output_0: Real = None
    """Output O1."""
    real_output_1: Real = None
    """Output O2."""
    real_output_2: Real = None
    """Output O3."""
    real_output_3: Real = None
    """Output O4."""
    digital_output_0: Digital = None
    """Marker M1."""
    digital_output_1: Digital = None
    """Marker M2."""
    digital_output_2: Digital = None
    """Marker M3."""
    digital_output_3: Digital = None
    """Marker M4."""


class QRMDescription(_Module):
    """A QRM: baseband readout module, ±0.5 V outputs, two inputs."""

    instrument_type: Literal["QRM"]
    """The module type."""
    complex_output_0: Complex = None
    """Outputs O1 and O2 as an I/Q pair."""
    complex_input_0: Complex = None
    """Inputs I1 and I2 as an I/Q pair."""
    real_output_0: Real = None
    """Output O1."""
    real_output_1: Real = None
    """Output O2."""
    real_input_0: Real = None
    """Input I1."""
    real_input_1: Real = None
    """Input I2."""
    digital_output_0: Digital = None
    """Marker M1."""
    digital_output_1: Digital = None
    """Marker M2."""
    digital_output_2: Digital = None
    """Marker M3."""
    digital_output_3: Digital = None
    """Marker M4."""


class QCMRFDescription(_RFModule):
    """A QCM-RF: control module with two RF outputs and internal LOs."""

    instrument_type: Literal["QCM_RF"]
    """The module type."""
    complex_output_0: Complex = None
    """RF output O1."""
    complex_output_1: Complex = None
    """RF output O2."""
    digital_output_0: Digital = None
    """Marker M1."""
    digital_output_1: Digital = None
    """Marker M2."""


class QRMRFDescription(_RFModule):
    """A QRM-RF: readout module with one RF output, one RF input and a shared internal LO."""

    instrument_type: Literal["QRM_RF"]
    """The module type."""
    complex_output_0: Complex = None
    """RF output O1."""
    complex_input_0: Complex = None
    """RF input I1."""
    digital_output_0: Digital = None
    """Marker M1."""
    digital_output_1: Digital = None
    """Marker M2."""


class QRCDescription(_Module):
    """A QRC: RF control and readout module with six outputs and two inputs."""

    instrument_type: Literal["QRC"]
    """The module type."""
    complex_output_0: Complex = None
    """RF output O1."""
    complex_output_1: Complex = None
    """RF output O2."""
    complex_output_2: Complex = None
    """RF output O3."""
    complex_output_3: Complex = None
    """RF output O4."""
    complex_output_4: Complex = None
    """RF output O5."""
    complex_output_5: Complex = None
    """RF output O6."""
    complex_input_0: Complex = None
    """RF input I1."""
    complex_input_1: Complex = None
    """RF input I2."""
    digital_output_0: Digital = None
    """Marker M1."""


class QTMDescription(_Module):
    """A QTM: timetagging module with eight digital channels, each an input or an output."""

    instrument_type: Literal["QTM"]
    """The module type."""
    digital_input_0: Digital = None
    """Channel 1 used as input."""
    digital_input_1: Digital = None
    """Channel 2 used as input."""
    digital_input_2: Digital = None
    """Channel 3 used as input."""
    digital_input_3: Digital = None
    """Channel 4 used as input."""
    digital_input_4: Digital = None
    """Channel 5 used as input."""
    digital_input_5: Digital = None
    """Channel 6 used as input."""
    digital_input_6: Digital = None
    """Channel 7 used as input."""
    digital_input_7: Digital = None
    """Channel 8 used as input."""
    digital_output_0: Digital = None
    """Channel 1 used as output."""
    digital_output_1: Digital = None
    """Channel 2 used as output."""
    digital_output_2: Digital = None
    """Channel 3 used as output."""
    digital_output_3: Digital = None
    """Channel 4 used as output."""
    digital_output_4: Digital = None
    """Channel 5 used as output."""
    digital_output_5: Digital = None
    """Channel 6 used as output."""
    digital_output_6: Digital = None
    """Channel 7 used as output."""
    digital_output_7: Digital = None
    """Channel 8 used as output."""


class QSMDescription(_Module):
    """A QSM: source-measure module (qblox-scheduler 1.0); it has no sequencer channels."""

    instrument_type: Literal["QSM"]
    """The module type."""


ModuleDescription = Annotated[
    QCMDescription
    | QRMDescription
    | QCMRFDescription
    | QRMRFDescription
    | QRCDescription
    | QTMDescription
    | QSMDescription,
    Field(discriminator="instrument_type"),
]

ChannelDescription = ComplexChannelDescription | RealChannelDescription | DigitalChannelDescription


def module_channel(module: BaseModel, channel: str) -> ChannelDescription | None:
    """The description the user gave for ``channel`` of ``module``, or None (defaults apply)."""
    value: Any = getattr(module, channel, None)
    if isinstance(value, ComplexChannelDescription | RealChannelDescription):
        return value
    if isinstance(value, DigitalChannelDescription):
        return value
    return None


# --- instruments -------------------------------------------------------------------------------


def _check_slot(slot: int) -> int:
    if not MIN_SLOT <= slot <= MAX_SLOT:
        raise PydanticCustomError(
            "qc_slot_range",
            "slot {slot} is out of range",
            {"slot": slot, "hint": f"a cluster has slots {MIN_SLOT} to {MAX_SLOT}"},
        )
    return slot


Slot = Annotated[int, AfterValidator(_check_slot)]


class ExternalTriggerSync(ClosedModel):
    """Start the cluster on an external trigger."""

    slot: int
    """Slot of the module (or the CMM) receiving the trigger."""
    channel: int
    """Front-panel channel receiving the trigger (1 on a CMM)."""
    input_threshold: float | None = None
    """Input threshold (V) when a QTM receives the trigger."""
    trigger_timestamp: float = 0
    """Time the cluster is set to when the trigger arrives."""
    timeout: float = 1
    """How long the cluster waits for the trigger."""
    format: str = "s"
    """Time unit of ``trigger_timestamp`` and ``timeout``."""
    edge_polarity: Literal[0, 1] = 1
    """Trigger edge: 1 rising, 0 falling."""
    sync_to_ref_clock: bool = False
    """Align to the next 10 MHz reference clock tick."""


class ClusterDescription(ClosedModel):
    """A Qblox Cluster and the modules in its slots."""

    instrument_type: Literal["Cluster"]
    """The instrument type."""
    ref: Literal["internal", "external"]
    """Reference clock source."""
    ip: str | None = None
    """Address (or identifier) used to connect to the cluster; null for a dummy cluster."""
    modules: dict[Slot, ModuleDescription] = Field(default_factory=dict)
    """The modules, keyed by slot number (1 to 20)."""
    sequence_to_file: bool = False
    """Write the sequencer programs of every module to files."""
    sync_on_external_trigger: ExternalTriggerSync | None = None
    """Synchronise the cluster on an external trigger."""
    port: int | None = None
    """Network port of the cluster (qblox-scheduler 1.0)."""
    module_base_port: int | None = None
    """Module ports are ``module_base_port + slot`` (qblox-scheduler 1.0)."""


class LocalOscillatorDescription(ClosedModel):
    """An external local oscillator (also a laser feeding an optical modulator)."""

    instrument_type: Literal["LocalOscillator"]
    """The instrument type."""
    instrument_name: str | None = None
    """The instrument's name in the lab (defaults to the key in ``hardware_description``)."""
    generic_icc_name: Literal["generic"] | None = None
    """Name of the generic instrument coordinator component; only "generic" is supported."""
    frequency_param: str = "frequency"
    """Name of the instrument parameter that sets the frequency."""
    power_param: str = "power"
    """Name of the instrument parameter that sets the power."""
    power: int | None = None
    """Output power setting."""


class IQMixerDescription(ClosedModel):
    """An external IQ mixer with ports ``if`` (from a module), ``lo`` (from an LO) and ``rf``."""

    instrument_type: Literal["IQMixer"]
    """The instrument type."""


class OpticalModulatorDescription(ClosedModel):
    """An optical modulator with ports ``if`` (from a module), ``lo`` (from a laser) and ``out``."""

    instrument_type: Literal["OpticalModulator"]
    """The instrument type."""


InstrumentDescription = Annotated[
    ClusterDescription
    | LocalOscillatorDescription
    | IQMixerDescription
    | OpticalModulatorDescription,
    Field(discriminator="instrument_type"),
]
