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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from qconductor.protocol.operations import (
    ACQUISITION_TYPES,
    PULSE_TYPES,
    Acquisition,
    ChirpPulse,
    ClockName,
    Conditional,
    Delay,
    DragPulse,
    GaussPulse,
    Idle,
    Loop,
    MarkerPulse,
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
    TimedOperation,
    Trace,
    TriggerCount,
    VoltageOffset,
    WeightedIntegration,
)
from qconductor.protocol.sweeps import Linspace, Var, linspace

__all__ = [
    "ACQUISITION_TYPES",
    "PULSE_TYPES",
    "Acquisition",
    "ChirpPulse",
    "Conditional",
    "Delay",
    "DragPulse",
    "GaussPulse",
    "Idle",
    "Linspace",
    "Loop",
    "LoopBuilder",
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
    "Var",
    "VoltageOffset",
    "WeightedIntegration",
    "linspace",
]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpRef(_Closed):
    """What :meth:`Schedule.add` returns: where the added operation sits, to place others."""

    index: int
    start: int
    end: int


Placement = Literal["start", "end"]


def _place(
    operations: list[TimedOperation],
    op: Operation,
    at: int | None,
    ref: OpRef | None,
    ref_pt: Placement,
    delay: int,
) -> OpRef:
    if at is not None:
        if ref is not None or delay:
            raise ValueError("give either at= or ref=/delay=, not both")
        start = at
    else:
        anchor = ref
        if anchor is None and operations:
            last = operations[-1]
            anchor = OpRef(index=len(operations) - 1, start=last.start, end=last.end)
        base = 0 if anchor is None else (anchor.end if ref_pt == "end" else anchor.start)
        start = base + delay
    timed = TimedOperation(start=start, op=op)
    operations.append(timed)
    return OpRef(index=len(operations) - 1, start=timed.start, end=timed.end)


class _Placing:
    """``add`` and ``loop``, for a schedule and for a loop's body (``operations``)."""

    if TYPE_CHECKING:  # (not at run time: pydantic would take it for the schedule's first field)
        operations: list[TimedOperation]

    def add(
        self,
        op: Operation,
        at: int | None = None,
        *,
        ref: OpRef | None = None,
        ref_pt: Placement = "end",
        delay: int = 0,
    ) -> OpRef:
        """Add ``op`` and return a reference to it.

        With ``at``, the operation starts at that absolute time (ns; in a loop's body, from
        the start of an iteration). Otherwise it starts ``delay`` ns after the ``ref_pt``
        ("end" or "start") of ``ref``, by default the operation added last (the first one
        then starts at ``delay``).
        """
        return _place(self.operations, op, at, ref, ref_pt, delay)

    @contextmanager
    def loop(
        self,
        count: int | None = None,
        *,
        at: int | None = None,
        ref: OpRef | None = None,
        ref_pt: Placement = "end",
        delay: int = 0,
        **sweeps: Linspace,
    ) -> Iterator[LoopBuilder]:
        """Build a real-time loop: ``count`` iterations, or one per point of the sweeps::

            with sched.loop(amp=linspace(0.0, 1.0, 101)) as body:
                body.add(DragPulse(..., amplitude=body["amp"]))
                body.add(SquarePulse(...), delay=20)
                body.add(SSBIntegrationComplex(...), ref_pt="start", delay=100)

        The loop is added (placed like :meth:`add`) when the ``with`` block ends; the sweeps'
        values come back with the results as coordinates. ``body.loop(...)`` nests one."""
        builder = LoopBuilder(count, sweeps)
        yield builder
        _place(self.operations, builder.build(), at, ref, ref_pt, delay)


class LoopBuilder(_Placing):
    """The body of a loop being built by :meth:`Schedule.loop`: ``add`` places operations
    relative to the start of an iteration, ``loop`` nests another loop, ``body["name"]`` (or
    ``var``) refers to a sweep variable of this loop or an enclosing one."""

    def __init__(self, count: int | None, sweeps: dict[str, Linspace]) -> None:
        self.count = count
        self.sweeps = sweeps
        self.operations = []

    def var(self, name: str) -> Var:
        return Var(var=name)

    def __getitem__(self, name: str) -> Var:
        return Var(var=name)

    def build(self) -> Loop:
        return Loop(count=self.count, sweeps=self.sweeps, body=self.operations)


class Schedule(BaseModel, _Placing):
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

    @property
    def duration(self) -> int:
        """Length of one repetition in ns: the end of the operation that ends last."""
        return max((t.start + t.op.duration for t in self.operations), default=0)
