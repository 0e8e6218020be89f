"""Sweep variables: linear domains, references to them, and the values the hardware plays.

A real-time loop sweeps one or more variables over linear domains (:class:`Linspace`) in
lockstep; operations in its body name a variable (:class:`Var`) where they would hold a number.
The sequencer steps each swept quantity in a register, in its own integer units (gain: 1/32767
of full scale; NCO frequency: 0.25 Hz; phase: 1e-9 turn; time: 1 ns). Incrementing by a rounded
step would drift by up to half a unit per point, so the register keeps a fixed-point fraction
beside the integer value (:data:`FRACTION_BITS` bits, carried like Bresenham's line algorithm):

    value(k) = floor((Q0 + k * D) / 2**FRACTION_BITS)
    Q0 = round((start + 0.5) * 2**FRACTION_BITS),  D = round(step * 2**FRACTION_BITS)

with ``start`` and ``step`` in hardware units. ``value(k)`` is the requested value rounded to
the nearest unit, except that the step's own rounding (at most 2**-25 unit per point) may move a
value that lies within about ``k * 2**-25`` units of a half-unit boundary: over 10^6 points, never
more than 0.53 units from the request. :meth:`FixedPointSweep.units` computes exactly what the
registers hold, so the values reported with the results are the values played.
"""

from __future__ import annotations

import math
from typing import Annotated, Self

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

FRACTION_BITS = 24
FRACTION_ONE = 1 << FRACTION_BITS
MAX_POINTS = 1 << 24
VarName = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Var(BaseModel):
    """A reference to a sweep variable of an enclosing loop, where a number would go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    var: VarName

    def __str__(self) -> str:
        return f"${self.var}"


class Linspace(BaseModel):
    """``num`` evenly spaced values from ``start`` to ``stop`` (both included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Annotated[float, Field(allow_inf_nan=False)]
    stop: Annotated[float, Field(allow_inf_nan=False)]
    num: Annotated[StrictInt, Field(ge=1, le=MAX_POINTS)]

    @property
    def step(self) -> float:
        return 0.0 if self.num == 1 else (self.stop - self.start) / (self.num - 1)

    def values(self) -> npt.NDArray[np.float64]:
        return np.linspace(self.start, self.stop, self.num)

    @model_validator(mode="after")
    def _finite_step(self) -> Self:
        if not math.isfinite(self.stop - self.start):
            raise ValueError("the domain's span is not finite")
        return self


def linspace(start: float, stop: float, num: int) -> Linspace:
    return Linspace(start=start, stop=stop, num=num)


class FixedPointSweep(BaseModel):
    """How a register steps one swept quantity, and the values (in user units) it plays.

    ``scale`` and ``offset`` map the user's value ``x`` to hardware units: ``offset + scale * x``.
    The register's integer part starts at ``q0`` and its fraction at ``e0``; every point adds
    ``d_int`` and ``d_frac`` (a carry moves ``FRACTION_ONE`` of fraction into one unit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num: int
    q0: int
    e0: int
    d_int: int
    d_frac: int
    scale: float
    offset: float

    @classmethod
    def of(cls, domain: Linspace, scale: float, offset: float = 0.0) -> FixedPointSweep:
        first = offset + scale * domain.start
        step = scale * domain.step
        total0 = math.floor((first + 0.5) * FRACTION_ONE)
        d = round(step * FRACTION_ONE)
        q0, e0 = divmod(total0, FRACTION_ONE)
        d_int, d_frac = divmod(d, FRACTION_ONE)
        return cls(
            num=domain.num, q0=q0, e0=e0, d_int=d_int, d_frac=d_frac, scale=scale, offset=offset
        )

    def units(self) -> npt.NDArray[np.int64]:
        """The integer register value at every point (unwrapped)."""
        k = np.arange(self.num, dtype=np.int64)
        total = (self.q0 * FRACTION_ONE + self.e0) + k * (self.d_int * FRACTION_ONE + self.d_frac)
        return total >> FRACTION_BITS

    def unit_bounds(self) -> tuple[int, int]:
        """(min, max) of :meth:`units`: the sequence is monotonic, so its ends bound it."""
        last = (
            (self.q0 * FRACTION_ONE + self.e0)
            + (self.num - 1) * (self.d_int * FRACTION_ONE + self.d_frac)
        ) >> FRACTION_BITS
        return min(self.q0, last), max(self.q0, last)

    def values(self) -> npt.NDArray[np.float64]:
        """The played values in the user's units."""
        return np.asarray((self.units() - self.offset) / self.scale, dtype=np.float64)
