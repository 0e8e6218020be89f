"""The operations a schedule is made of: pulses, offsets, markers, NCO updates, acquisitions.

Closed models (``extra="forbid"``), one per kind, told apart by ``kind``. Units: integer
nanoseconds, Hz, degrees, fractions of full scale. Operations with ``duration = 0`` (offsets,
NCO updates) act at an instant and hold until changed. Pulse envelopes are defined relative to
their clock: the NCO adds the carrier, so an envelope is what a mixer would see at baseband.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictInt,
    TypeAdapter,
    model_validator,
)

from qconductor.protocol.sweeps import FixedPointSweep, Linspace, Var, VarName

Nanoseconds = Annotated[StrictInt, Field(ge=0, description="integer nanoseconds")]
PositiveNanoseconds = Annotated[StrictInt, Field(gt=0, description="integer nanoseconds, > 0")]
Amplitude = Annotated[
    float, Field(ge=-1.0, le=1.0, allow_inf_nan=False, description="fraction of full scale")
]
Phase = Annotated[float, Field(allow_inf_nan=False, description="degrees")]
Frequency = Annotated[float, Field(allow_inf_nan=False, description="Hz")]
Port = Annotated[str, Field(min_length=1, pattern=r"^[^\s:]+:[^\s:]+$", description="element:port")]
ClockName = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]
Coordinate = float | int | str
TriggerLabel = Annotated[str, Field(min_length=1, pattern=r"^\S+$")]


def _number_or_var(number: Any) -> Any:
    """A validator for ``number | Var`` whose errors name the field itself (a plain union
    would add a location per member)."""
    numbers: TypeAdapter[float] = TypeAdapter(number)

    def validate(value: Any) -> float | Var:
        if isinstance(value, Var):
            return value
        if isinstance(value, dict):
            return Var.model_validate(value)
        return numbers.validate_python(value)

    return PlainValidator(validate, json_schema_input_type=number | Var)


def _dump_number_or_var(value: float | Var) -> float | dict[str, str]:
    return {"var": value.var} if isinstance(value, Var) else value


_NUMBER_OR_VAR = PlainSerializer(_dump_number_or_var)
SweptAmplitude = Annotated[float | Var, _number_or_var(Amplitude), _NUMBER_OR_VAR]
SweptPhase = Annotated[float | Var, _number_or_var(Phase), _NUMBER_OR_VAR]
SweptFrequency = Annotated[float | Var, _number_or_var(Frequency), _NUMBER_OR_VAR]
BinMode = Literal["average", "append"]
MAX_NUMERICAL_SAMPLES = 16384


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- pulses ---------------------------------------------------------------------------------
class _Pulse(_Closed):
    port: Port
    clock: ClockName
    duration: PositiveNanoseconds
    amplitude: SweptAmplitude
    phase: Phase = 0.0


class SquarePulse(_Pulse):
    """A constant-amplitude pulse. Long ones play from the offset registers (no waveform)."""

    kind: Literal["square"] = "square"


class RampPulse(_Pulse):
    """A linear ramp from ``offset`` to ``offset + amplitude``."""

    kind: Literal["ramp"] = "ramp"
    offset: Amplitude = 0.0


class GaussPulse(_Pulse):
    """A Gaussian envelope centred in the pulse; ``sigma`` defaults to duration / 4 (ns)."""

    kind: Literal["gauss"] = "gauss"
    sigma: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class DragPulse(_Pulse):
    """A DRAG pulse: Gaussian on I and ``beta`` (ns) times its time derivative on Q.

    ``amplitude`` is the peak of the Gaussian (I) component; ``sigma`` defaults to duration / 4.
    """

    kind: Literal["drag"] = "drag"
    beta: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    sigma: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class SoftSquarePulse(_Pulse):
    """A square pulse with raised-cosine edges of ``rise_time`` ns each."""

    kind: Literal["soft_square"] = "soft_square"
    rise_time: PositiveNanoseconds

    @model_validator(mode="after")
    def _edges_fit(self) -> Self:
        if 2 * self.rise_time > self.duration:
            raise ValueError(f"two edges of {self.rise_time} ns do not fit in {self.duration} ns")
        return self


class ChirpPulse(_Pulse):
    """Constant amplitude, frequency swept linearly from ``start_freq`` to ``end_freq``
    (relative to the clock) over the pulse."""

    kind: Literal["chirp"] = "chirp"
    start_freq: Frequency
    end_freq: Frequency


class NumericalPulse(_Closed):
    """Arbitrary complex samples at 1 GS/s (I and Q, fractions of full scale), scaled by
    ``amplitude``. ``duration`` must equal the number of samples."""

    kind: Literal["numerical"] = "numerical"
    port: Port
    clock: ClockName
    duration: PositiveNanoseconds
    samples_i: Annotated[list[Amplitude], Field(min_length=1, max_length=MAX_NUMERICAL_SAMPLES)]
    samples_q: Annotated[list[Amplitude], Field(max_length=MAX_NUMERICAL_SAMPLES)] | None = None
    amplitude: SweptAmplitude = 1.0
    phase: Phase = 0.0

    @model_validator(mode="after")
    def _lengths(self) -> Self:
        n = len(self.samples_i)
        if self.samples_q is not None and len(self.samples_q) != n:
            raise ValueError(f"samples_q has {len(self.samples_q)} samples, samples_i {n}")
        if self.duration != n:
            raise ValueError(f"duration is {self.duration} ns but there are {n} samples")
        return self


class StaircasePulse(_Closed):
    """``num_steps`` equal steps from ``start_amplitude`` to ``final_amplitude``, played from
    the offset registers (no waveform memory)."""

    kind: Literal["staircase"] = "staircase"
    port: Port
    clock: ClockName
    duration: PositiveNanoseconds
    start_amplitude: Amplitude
    final_amplitude: Amplitude
    num_steps: Annotated[StrictInt, Field(ge=2)]
    phase: Phase = 0.0


# --- offsets, markers, NCO --------------------------------------------------------------------
class VoltageOffset(_Closed):
    """Set the DC offset of the port's outputs (I, Q) from ``start`` until changed.

    Modulated by the NCO like a pulse; with ``duration`` > 0 it also occupies that time."""

    kind: Literal["voltage_offset"] = "voltage_offset"
    port: Port
    clock: ClockName
    offset_i: Amplitude
    offset_q: Amplitude = 0.0
    duration: Nanoseconds = 0


class MarkerPulse(_Closed):
    """Raise the digital output wired to ``port`` for ``duration``."""

    kind: Literal["marker"] = "marker"
    port: Port
    clock: ClockName = "digital"
    duration: PositiveNanoseconds


class SetClockFrequency(_Closed):
    """From ``start`` on, the clock runs at ``frequency`` (the NCO follows, LO unchanged)."""

    kind: Literal["set_clock_frequency"] = "set_clock_frequency"
    port: Port
    clock: ClockName
    frequency: SweptFrequency
    duration: Nanoseconds = 0


class ShiftClockPhase(_Closed):
    """Advance the clock's phase by ``phase_shift`` degrees (a virtual Z rotation)."""

    kind: Literal["shift_clock_phase"] = "shift_clock_phase"
    port: Port
    clock: ClockName
    phase_shift: SweptPhase
    duration: Nanoseconds = 0


class ResetClockPhase(_Closed):
    """Set the clock's phase back to zero."""

    kind: Literal["reset_clock_phase"] = "reset_clock_phase"
    port: Port
    clock: ClockName
    duration: Nanoseconds = 0


class Idle(_Closed):
    """Nothing plays for ``duration``; it only occupies time (and so spaces what follows)."""

    kind: Literal["idle"] = "idle"
    duration: PositiveNanoseconds


# --- acquisitions -----------------------------------------------------------------------------
class _Acquisition(_Closed):
    port: Port
    clock: ClockName
    duration: PositiveNanoseconds
    acq_channel: Annotated[StrictInt, Field(ge=0)] = 0
    bin_index: Annotated[StrictInt, Field(ge=0)] = 0
    bin_mode: BinMode = "average"
    coords: dict[str, Coordinate] = Field(
        default_factory=dict, description="labels of this bin, returned with the data"
    )


class SSBIntegrationComplex(_Acquisition):
    """Demodulate at the clock's frequency and integrate: one complex number per bin
    (averaged over repetitions in ``average`` mode, one per repetition in ``append``)."""

    kind: Literal["ssb_integration"] = "ssb_integration"


class WeightedIntegration(_Acquisition):
    """Demodulate and integrate with numerical weights (1 GS/s, |w| <= 1), one per path.

    ``summed=False``: I and Q are weighted separately (a complex result); ``summed=True``:
    the two weighted paths are added (a real result)."""

    kind: Literal["weighted_integration"] = "weighted_integration"
    weights_i: Annotated[list[Amplitude], Field(min_length=4, max_length=MAX_NUMERICAL_SAMPLES)]
    weights_q: Annotated[list[Amplitude], Field(min_length=4, max_length=MAX_NUMERICAL_SAMPLES)]
    summed: bool = False

    @model_validator(mode="after")
    def _lengths(self) -> Self:
        if not len(self.weights_i) == len(self.weights_q) == self.duration:
            raise ValueError(
                f"weights_i ({len(self.weights_i)}), weights_q ({len(self.weights_q)}) and "
                f"duration ({self.duration} ns) must be equal"
            )
        return self


class ThresholdedAcquisition(_Acquisition):
    """Integrate like SSB integration, rotate by ``rotation`` degrees and compare the real
    part with ``threshold`` (in the units of an SSB result: the mean demodulated sample, a
    fraction of full scale): 0 or 1 per bin (the fraction of 1s in ``average`` mode)."""

    kind: Literal["thresholded"] = "thresholded"
    rotation: Phase = 0.0
    threshold: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    feedback_trigger_label: TriggerLabel | None = Field(
        default=None,
        description="send each result (1 = above the threshold) on the trigger network under "
        "this label, for Conditional blocks",
    )


class Trace(_Acquisition):
    """The raw input (I and Q, 1 GS/s) for ``duration`` ns, averaged over repetitions."""

    kind: Literal["trace"] = "trace"
    duration: Annotated[StrictInt, Field(gt=0, le=16384)]


class TriggerCount(_Acquisition):
    """Count the rising edges above the input threshold during ``duration`` (TTL input; the
    window closes 4 ns before the end, as on Qblox instruments).

    ``average``: the mean count per repetition; ``append``: the count of each repetition."""

    kind: Literal["trigger_count"] = "trigger_count"


class Delay(_Closed):
    """A wait as long as a sweep variable (ns), inside a loop's body: the body stretches there.

    Nominally the delay lasts 0 ns: every operation of the body that starts at or after it (on
    any port) moves later by the variable's current value, so ``x, Delay(tau), measure`` added
    one after the other measures ``tau`` after ``x``. The variable must be one of the innermost
    enclosing loop's, and every value at least 4 ns once rounded to whole nanoseconds."""

    kind: Literal["delay"] = "delay"
    length: Var

    @property
    def duration(self) -> int:
        return 0


class Conditional(_Closed):
    """Play ``body`` only in the repetitions (or loop iterations) where the latest thresholded
    acquisition labelled ``trigger`` gave 1: active reset, heralding.

    Body times are relative to the block's start; when the condition is false the sequencers
    wait instead, so the timeline is the same either way. The block must start at least
    :data:`TRIGGER_LATENCY_NS` after that acquisition ends (the trigger network's latency), in
    the same repetition or loop body; its body holds pulses and NCO operations (no
    acquisitions, loops or other conditionals), each real-time instruction 4 ns or at least
    8 ns from the next."""

    kind: Literal["conditional"] = "conditional"
    trigger: TriggerLabel
    body: list[TimedOperation] = Field(default_factory=list)

    @property
    def duration(self) -> int:
        return max((t.start + t.op.duration for t in self.body), default=0)


TRIGGER_LATENCY_NS = 364


class Loop(_Closed):
    """Play ``body`` again and again: ``count`` times, or once per point of its ``sweeps``.

    The sweeps (at least one, or a ``count``) are stepped together, so all must have the same
    number of points. Operations of the body refer to a sweep variable with ``Var(var=name)``
    (amplitudes, NCO frequency, phase shifts, delays), also those of nested loops. Body times are
    relative to the start of each iteration; an iteration lasts as long as its body plus its
    delays, and nothing else in the schedule may run while the loop does."""

    kind: Literal["loop"] = "loop"
    count: Annotated[StrictInt, Field(ge=1, le=1 << 24)] | None = None
    sweeps: dict[VarName, Linspace] = Field(default_factory=dict)
    body: list[TimedOperation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _points(self) -> Self:
        nums = {d.num for d in self.sweeps.values()}
        if self.count is not None:
            nums.add(self.count)
        if not nums:
            raise ValueError("a loop needs a count or at least one sweep")
        if len(nums) > 1:
            raise ValueError(
                f"the loop's count and sweeps disagree on the number of points ({sorted(nums)})"
            )
        return self

    @property
    def iterations(self) -> int:
        if self.count is not None:
            return self.count
        return next(iter(self.sweeps.values())).num

    @property
    def body_duration(self) -> int:
        """One iteration without its delays: the end of the body's last operation."""
        return max((t.start + t.op.duration for t in self.body), default=0)

    @cached_property
    def duration(self) -> int:
        """The whole loop, every delay at its played (rounded) length included (computed
        once: the model is frozen)."""
        total = self.iterations * self.body_duration
        for timed in self.body:
            op = timed.op
            if isinstance(op, Delay) and op.length.var in self.sweeps:
                total += delay_total(self.sweeps[op.length.var])
        return total


def delay_total(domain: Linspace) -> int:
    """The sum of a delay's played lengths (whole ns) over the domain's points."""
    return int(FixedPointSweep.of(domain, 1.0).units().sum())


Pulse = (
    SquarePulse
    | RampPulse
    | GaussPulse
    | DragPulse
    | SoftSquarePulse
    | ChirpPulse
    | NumericalPulse
    | StaircasePulse
)
NcoOperation = SetClockFrequency | ShiftClockPhase | ResetClockPhase
Acquisition = (
    SSBIntegrationComplex | WeightedIntegration | ThresholdedAcquisition | Trace | TriggerCount
)
Operation = Annotated[
    Pulse
    | VoltageOffset
    | MarkerPulse
    | NcoOperation
    | Idle
    | Acquisition
    | Delay
    | Loop
    | Conditional,
    Field(discriminator="kind"),
]


class TimedOperation(_Closed):
    """An operation and its start time: within one repetition, or within one iteration of the
    loop whose body holds it."""

    start: Nanoseconds
    op: Operation

    @property
    def end(self) -> int:
        return self.start + self.op.duration


Loop.model_rebuild()
Conditional.model_rebuild()
PULSE_TYPES = (
    SquarePulse,
    RampPulse,
    GaussPulse,
    DragPulse,
    SoftSquarePulse,
    ChirpPulse,
    NumericalPulse,
    StaircasePulse,
)
ACQUISITION_TYPES = (
    SSBIntegrationComplex,
    WeightedIntegration,
    ThresholdedAcquisition,
    Trace,
    TriggerCount,
)
OPERATION_KINDS = frozenset(
    t.model_fields["kind"].default
    for t in (
        *PULSE_TYPES,
        *ACQUISITION_TYPES,
        VoltageOffset,
        MarkerPulse,
        SetClockFrequency,
        ShiftClockPhase,
        ResetClockPhase,
        Idle,
        Delay,
        Loop,
        Conditional,
    )
)
