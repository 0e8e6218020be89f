"""``hardware_options``: settings per port-clock combination (keys like ``"q0:mw-q0.01"``).

Accepted fields are the union of quantify-scheduler 0.28's and qblox-scheduler 1.0's
``QbloxHardwareOptions``. Ranges that hold whatever module a port is wired to are checked here;
module-dependent ranges (attenuation steps, DC offsets) are checked in ``validate.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag
from pydantic_core import PydanticCustomError

from .channels import MIXER_AMP_RATIO_RANGE, MIXER_PHASE_ERROR_RANGE_DEG
from .description import ClosedModel


def bounded(lo: float, hi: float, what: str, unit: str = "") -> Any:
    """Metadata for ``Annotated[float, bounded(...)]``: ``lo <= value <= hi``, reported as a
    ``qc_range`` error with a hint, and shown as minimum/maximum in the JSON schema."""
    suffix = f" {unit}" if unit else ""

    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise PydanticCustomError(
                "qc_range",
                "{what} {shown} is out of range",
                {
                    "what": what,
                    "shown": f"{value:g}{suffix}",
                    "hint": f"valid: {lo:g} to {hi:g}{suffix}",
                },
            )
        return value

    return AfterValidator(check)


def _schema_range(lo: float, hi: float) -> Any:
    return Field(json_schema_extra={"minimum": lo, "maximum": hi})


# --- per port-clock settings ---------------------------------------------------------------------


class ModulationFrequencies(ClosedModel):
    """How the clock frequency splits into NCO (IF) and LO: ``RF = LO + IF``."""

    interm_freq: float | None = None
    """The intermediate (NCO) frequency in Hz; 0 disables the NCO. Beyond the NCO's ±500 MHz
    it is a warning: the reference accepts the config and fails when a schedule uses it."""
    lo_freq: float | None = None
    """The local oscillator frequency in Hz (external LO, or the RF module's internal LO)."""


class MixerCorrections(ClosedModel):
    """Mixer imperfection corrections applied in real time on an output."""

    dc_offset_i: float | None = None
    """DC offset (V) on the I path, against LO leakage."""
    dc_offset_q: float | None = None
    """DC offset (V) on the Q path, against LO leakage."""
    amp_ratio: (
        Annotated[
            float,
            bounded(*MIXER_AMP_RATIO_RANGE, "amp_ratio"),
            _schema_range(*MIXER_AMP_RATIO_RANGE),
        ]
        | None
    ) = 1.0
    """Amplitude ratio Q/I (0.5 to 2.0)."""
    phase_error: (
        Annotated[
            float,
            bounded(*MIXER_PHASE_ERROR_RANGE_DEG, "phase_error", "degrees"),
            _schema_range(*MIXER_PHASE_ERROR_RANGE_DEG),
        ]
        | None
    ) = 0.0
    """Phase error in degrees (-45 to 45)."""
    auto_lo_cal: Literal["off", "on_lo_freq_change", "on_lo_interm_freq_change"] = "off"
    """Automatic LO-leakage calibration; overrides the DC offsets when on."""
    auto_sideband_cal: Literal["off", "on_interm_freq_change"] = "off"
    """Automatic sideband calibration; overrides amp_ratio and phase_error when on."""


_Gain = Annotated[int, bounded(-6, 26, "input gain", "dB"), _schema_range(-6, 26)]


class ComplexInputGain(ClosedModel):
    """Input gains (dB) of a complex input: I on input 1, Q on input 2."""

    gain_I: _Gain
    """Gain of the input receiving I, -6 to 26 dB."""
    gain_Q: _Gain
    """Gain of the input receiving Q, -6 to 26 dB."""


def _gain_kind(value: Any) -> str:
    return "~complex" if isinstance(value, dict | ComplexInputGain) else "~real"


InputGain = Annotated[
    Annotated[_Gain, Tag("~real")] | Annotated[ComplexInputGain, Tag("~complex")],
    Discriminator(_gain_kind),
]
"""A real input's gain (an int in dB) or a complex input's two gains."""

Attenuation = Annotated[float, bounded(0, 60, "attenuation", "dB"), _schema_range(0, 60)]
"""Attenuation in dB; the steps and maximum depend on the module (checked against the route)."""


class SequencerOptions(ClosedModel):
    """Options of the sequencer that serves a port-clock."""

    init_offset_awg_path_I: Annotated[float, bounded(-1, 1, "offset")] = 0.0
    """Offset of AWG path I at the start of the experiment (fraction of full scale)."""
    init_offset_awg_path_Q: Annotated[float, bounded(-1, 1, "offset")] = 0.0
    """Offset of AWG path Q at the start of the experiment (fraction of full scale)."""
    init_gain_awg_path_I: Annotated[float, bounded(-1, 1, "gain")] = 1.0
    """Gain of AWG path I at the start of the experiment."""
    init_gain_awg_path_Q: Annotated[float, bounded(-1, 1, "gain")] = 1.0
    """Gain of AWG path Q at the start of the experiment."""
    ttl_acq_threshold: float | None = None
    """QRM only: threshold on the input ADC value for TTL acquisitions."""
    qasm_hook_func: str | None = None
    """Import path of a Q1ASM hook function. Kept for compatibility; qconductor never imports
    or runs it."""
    qasm_isa_version: tuple[int, int] | None = None
    """Q1 instruction set version to generate (qblox-scheduler 1.0)."""


class ExpCoeffs(ClosedModel):
    """One stage of an exponential overshoot filter (qblox-scheduler 1.0 form)."""

    time_constant: Annotated[float, Field(ge=6e-9)]
    """Time constant in seconds (at least 6 ns)."""
    amplitude: Annotated[float, Field(ge=-1, le=1)]
    """Amplitude (-1 to 1)."""


class IHPCoeffs(ClosedModel):
    """The inverse high-pass filter (qblox-scheduler 1.0)."""

    time_constant: Annotated[float, Field(ge=10e-9, le=7)]
    """Time constant in seconds (10 ns to 7 s)."""


def _list_or_model(value: Any) -> str:
    return "~list" if isinstance(value, list | tuple) else "~model"


ExpStage = Annotated[
    Annotated[list[float], Tag("~list")] | Annotated[ExpCoeffs, Tag("~model")],
    Discriminator(_list_or_model),
]
"""Coefficients as a list (quantify-scheduler 0.28) or as ``{time_constant, amplitude}``."""


class HardwareDistortionCorrection(ClosedModel):
    """Real-time predistortion filters of one output path."""

    exp0_coeffs: ExpStage | None = None
    """Exponential overshoot correction 1."""
    exp1_coeffs: ExpStage | None = None
    """Exponential overshoot correction 2."""
    exp2_coeffs: ExpStage | None = None
    """Exponential overshoot correction 3."""
    exp3_coeffs: ExpStage | None = None
    """Exponential overshoot correction 4."""
    fir_coeffs: list[float] | None = None
    """FIR filter coefficients."""
    ihp_coeffs: IHPCoeffs | None = None
    """Inverse high-pass filter (qblox-scheduler 1.0)."""


class SerializedArray(ClosedModel):
    """A numpy array as quantify serialises it: base64 data, shape and dtype."""

    data: str
    """Base64 of the raw bytes."""
    shape: list[int]
    """Array shape."""
    dtype: str
    """Numpy dtype name."""


def _clip_pair(values: list[float] | None) -> list[float] | None:
    if values is not None and len(values) != 2:
        raise PydanticCustomError(
            "qc_clipping",
            "clipping_values must hold exactly two values, got {n}",
            {"n": len(values), "hint": "give [min, max]"},
        )
    return values


class SoftwareDistortionCorrection(ClosedModel):
    """A filter function applied to the waveforms of a port-clock at compile time."""

    filter_func: str
    """Import path of the filter function, e.g. "scipy.signal.lfilter"."""
    input_var_name: str
    """Name of the argument that receives the waveform."""
    kwargs: dict[
        str,
        Annotated[
            Annotated[list[Any], Tag("~list")] | Annotated[SerializedArray, Tag("~model")],
            Discriminator(_list_or_model),
        ],
    ]
    """Other keyword arguments of the filter function."""
    clipping_values: Annotated[list[float] | None, AfterValidator(_clip_pair)] = None
    """Optional [min, max] the corrected waveform is clipped to."""
    sampling_rate: float = 1e9
    """Sample rate of the corrected waveform in Hz."""


def _distortion_kind(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "~hardware_list"
    if isinstance(value, SoftwareDistortionCorrection):
        return "~software"
    if isinstance(value, dict) and {"filter_func", "input_var_name", "kwargs"} & value.keys():
        return "~software"
    return "~hardware"


DistortionCorrection = Annotated[
    Annotated[SoftwareDistortionCorrection, Tag("~software")]
    | Annotated[HardwareDistortionCorrection, Tag("~hardware")]
    | Annotated[list[HardwareDistortionCorrection], Tag("~hardware_list")],
    Discriminator(_distortion_kind),
]
"""A software filter, one hardware filter set (real channel) or two (complex channel: I, Q)."""


class DigitizationThresholds(ClosedModel):
    """When a QTM input counts an analog voltage as high."""

    analog_threshold: float | None = None
    """Voltage threshold (V)."""


class NetZeroPulseParameters(ClosedModel):
    """Net-zero compensation pulse (qblox-scheduler 1.0)."""

    max_amplitude: float
    """Maximum amplitude, fraction of full scale."""
    slew_rate: float
    """Slew rate, full scale per second."""


def _crosstalk_kind(value: Any) -> str:
    return "~complex" if isinstance(value, str | complex) else "~float"


CrosstalkValue = Annotated[
    Annotated[float, Tag("~float")] | Annotated[complex, Tag("~complex")],
    Discriminator(_crosstalk_kind),
]
"""A real factor, or a complex one written as a string such as "0.1+0.02j"."""


class HardwareOptions(ClosedModel):
    """Options per port-clock combination; every map is keyed by ``"port-clock"``."""

    latency_corrections: dict[str, float] | None = None
    """Delay (seconds) of operations on a port-clock; rounded to whole nanoseconds."""
    distortion_corrections: dict[str, DistortionCorrection] | None = None
    """Waveform predistortion per port-clock."""
    modulation_frequencies: dict[str, ModulationFrequencies] | None = None
    """IF and LO frequencies per port-clock."""
    mixer_corrections: dict[str, MixerCorrections] | None = None
    """Mixer corrections per port-clock."""
    input_gain: dict[str, InputGain] | None = None
    """QRM input gain (dB) per port-clock."""
    output_att: dict[str, Attenuation] | None = None
    """Output attenuation (dB) per port-clock (RF modules)."""
    input_att: dict[str, Attenuation] | None = None
    """Input attenuation (dB) per port-clock (QRM-RF, QRC)."""
    sequencer_options: dict[str, SequencerOptions] | None = None
    """Sequencer options per port-clock."""
    digitization_thresholds: dict[str, DigitizationThresholds] | None = None
    """QTM input thresholds per port-clock."""
    crosstalk: dict[str, dict[str, CrosstalkValue]] | None = None
    """Crosstalk factors: source port-clock -> target port-clock -> factor (the references
    document ports but key the compensation matrix by port-clock)."""
    net_zero_pulse_parameters: dict[str, NetZeroPulseParameters] | None = None
    """Net-zero compensation pulses per port-clock (qblox-scheduler 1.0)."""
    source_mode: dict[str, Literal["v_source", "i_source", "ground", "open"]] | None = None
    """QSM: sourcing mode per channel path (qblox-scheduler 1.0)."""
    measure_mode: (
        dict[str, Literal["automatic", "coarse", "fine_nanoampere", "fine_picoampere"]] | None
    ) = None
    """QSM: measurement precision per channel path (qblox-scheduler 1.0)."""
    slew_rate: dict[str, float] | None = None
    """QSM: maximum slew rate (V/s) per channel path (qblox-scheduler 1.0)."""
    integration_time: dict[str, float] | None = None
    """QSM: integration time (s) per channel path (qblox-scheduler 1.0)."""
    safe_voltage_range: dict[str, tuple[float, float]] | None = None
    """QSM: (min, max) voltage per channel path (qblox-scheduler 1.0)."""


PORT_CLOCK_OPTIONS: tuple[str, ...] = (
    "latency_corrections",
    "distortion_corrections",
    "modulation_frequencies",
    "mixer_corrections",
    "input_gain",
    "output_att",
    "input_att",
    "sequencer_options",
    "digitization_thresholds",
    "net_zero_pulse_parameters",
)
"""The options keyed by port-clock besides ``crosstalk`` (whose inner keys are port-clocks
too); the QSM options are keyed by channel path."""
