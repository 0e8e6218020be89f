"""The pulse-schedule model: what a client asks the daemon to play.

Everything is closed (``extra="forbid"``) and exact: times and durations are integer nanoseconds,
frequencies Hz, phases degrees, amplitudes fractions of full scale. A schedule is a list of timed
operations; the builder places each one either at an absolute time or relative to another::

    sched = Schedule(name="rabi", repetitions=1024, clocks={"q0.01": 80e6, "q0.ro": 20e6})
    x = sched.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=0.4, beta=1.0, duration=40))
    ro = sched.add(SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.2, duration=1000),
                   delay=20)                                   # 20 ns after x ends
    sched.add(SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900),
              ref=ro, ref_pt="start", delay=100)               # 100 ns after ro starts

The JSON and msgpack round trips are lossless (``Schedule.model_validate(s.model_dump())``).
That every clock an operation names is defined is checked by the compiler, which reports it with
the operation's path (``operations[3].op.clock``).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from qconductor.protocol.operations import (
    ACQUISITION_TYPES,
    PULSE_TYPES,
    Acquisition,
    ChirpPulse,
    ClockName,
    DragPulse,
    GaussPulse,
    Idle,
    MarkerPulse,
    Nanoseconds,
    NcoOperation,
    NumericalPulse,
    Operation,
    Pulse,
    RampPulse,
    ResetClockPhase,
    SetClockFrequency,
    ShiftClockPhase,
    SoftSquarePulse,
    SquarePulse,
    SSBIntegrationComplex,
    StaircasePulse,
    ThresholdedAcquisition,
    Trace,
    TriggerCount,
    VoltageOffset,
    WeightedIntegration,
)

__all__ = [
    "ACQUISITION_TYPES",
    "PULSE_TYPES",
    "Acquisition",
    "ChirpPulse",
    "DragPulse",
    "GaussPulse",
    "Idle",
    "MarkerPulse",
    "NcoOperation",
    "NumericalPulse",
    "OpRef",
    "Operation",
    "Pulse",
    "RampPulse",
    "ResetClockPhase",
    "SSBIntegrationComplex",
    "Schedule",
    "SetClockFrequency",
    "ShiftClockPhase",
    "SoftSquarePulse",
    "SquarePulse",
    "StaircasePulse",
    "ThresholdedAcquisition",
    "TimedOperation",
    "Trace",
    "TriggerCount",
    "VoltageOffset",
    "WeightedIntegration",
]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimedOperation(_Closed):
    """An operation and its absolute start time within one repetition."""

    start: Nanoseconds
    op: Operation

    @property
    def end(self) -> int:
        return self.start + self.op.duration


class OpRef(_Closed):
    """What :meth:`Schedule.add` returns: where the added operation sits, to place others."""

    index: int
    start: int
    end: int


class Schedule(BaseModel):
    """A named list of timed operations, played ``repetitions`` times back to back."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1)]
    repetitions: Annotated[StrictInt, Field(ge=1, le=2**31 - 1)] = 1
    clocks: dict[ClockName, float] = Field(default_factory=dict)
    operations: list[TimedOperation] = Field(default_factory=list)

    @field_validator("clocks")
    @classmethod
    def _finite_clocks(cls, clocks: dict[str, float]) -> dict[str, float]:
        for name, freq in clocks.items():
            if not math.isfinite(freq):
                raise ValueError(f"clock {name!r} has a non-finite frequency {freq!r}")
        return clocks

    # --- the builder ------------------------------------------------------------------------
    def add_clock(self, name: str, frequency: float) -> None:
        """Define (or redefine) a clock's frequency in Hz."""
        if not math.isfinite(frequency):
            raise ValueError(f"clock {name!r} needs a finite frequency, not {frequency!r}")
        self.clocks[name] = float(frequency)

    def add(
        self,
        op: Operation,
        at: int | None = None,
        *,
        ref: OpRef | None = None,
        ref_pt: Literal["start", "end"] = "end",
        delay: int = 0,
    ) -> OpRef:
        """Add ``op`` and return a reference to it.

        With ``at``, the operation starts at that absolute time (ns). Otherwise it starts
        ``delay`` ns after the ``ref_pt`` ("end" or "start") of ``ref``, by default the
        operation added last (a schedule's first operation then starts at ``delay``).
        """
        if at is not None:
            if ref is not None or delay:
                raise ValueError("give either at= or ref=/delay=, not both")
            start = at
        else:
            anchor = ref if ref is not None else self._last_ref()
            base = 0 if anchor is None else (anchor.end if ref_pt == "end" else anchor.start)
            start = base + delay
        timed = TimedOperation(start=start, op=op)
        self.operations.append(timed)
        return OpRef(index=len(self.operations) - 1, start=timed.start, end=timed.end)

    def _last_ref(self) -> OpRef | None:
        if not self.operations:
            return None
        last = self.operations[-1]
        return OpRef(index=len(self.operations) - 1, start=last.start, end=last.end)

    @property
    def duration(self) -> int:
        """Length of one repetition in ns: the end of the operation that ends last."""
        return max((t.start + t.op.duration for t in self.operations), default=0)
