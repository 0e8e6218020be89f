"""Expand a schedule's real-time loops into the flat schedule they play, for the reference model.

:func:`unroll` replaces every :class:`~qconductor.protocol.schedule.Loop` by one copy of its
body per point, each operation naming a sweep variable (:class:`Var`) bound to the variable's
value at that point, and every :class:`Delay` by the shift it causes: operations of the body
that start at or after the delay (on any port) move later by its length, and the iteration
lasts the body's nominal length plus its delays (see ``Loop`` and ``Delay``).

The values are the requested ones (``Linspace.values()``), delays rounded to whole nanoseconds,
unless ``values`` gives others for a variable (for example the played values a compiled job
reports). The expansion follows the schedule model's documentation only: nothing here comes
from the compiler.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from qconductor.protocol.schedule import (
    Delay,
    Linspace,
    Loop,
    Operation,
    Schedule,
    TimedOperation,
    Var,
)

Values = Mapping[str, Sequence[float] | npt.NDArray[np.float64]]


def unroll(schedule: Schedule, values: Values | None = None) -> Schedule:
    """The flat schedule ``schedule`` plays: no loops, delays or sweep variables left."""
    out: list[TimedOperation] = []
    _expand(schedule.operations, 0, {}, values or {}, out)
    out.sort(key=_start)
    return Schedule(
        name=schedule.name,
        repetitions=schedule.repetitions,
        clocks=dict(schedule.clocks),
        operations=out,
    )


def delay_ns(value: float) -> int:
    """A delay's played length: the requested one rounded to the nearest nanosecond."""
    return math.floor(value + 0.5)


def _start(timed: TimedOperation) -> int:
    return timed.start


def _expand(
    body: Sequence[TimedOperation],
    offset: int,
    env: Mapping[str, float],
    values: Values,
    out: list[TimedOperation],
) -> None:
    """Place ``body``'s operations from ``offset`` on, with the variables bound as in ``env``."""
    delays = [
        (t.start, delay_ns(_lookup(env, t.op.length))) for t in body if isinstance(t.op, Delay)
    ]
    for timed in body:
        op = timed.op
        if isinstance(op, Delay):
            continue
        shift = sum(length for at, length in delays if at <= timed.start)
        start = offset + timed.start + shift
        if isinstance(op, Loop):
            _expand_loop(op, start, env, values, out)
        else:
            out.append(TimedOperation(start=start, op=_bind(op, env)))


def _expand_loop(
    loop: Loop,
    start: int,
    env: Mapping[str, float],
    values: Values,
    out: list[TimedOperation],
) -> None:
    points = {name: _points(name, domain, values) for name, domain in loop.sweeps.items()}
    begin = start
    for k in range(loop.iterations):
        inner = {**env, **{name: float(v[k]) for name, v in points.items()}}
        _expand(loop.body, begin, inner, values, out)
        stretch = sum(
            delay_ns(_lookup(inner, t.op.length)) for t in loop.body if isinstance(t.op, Delay)
        )
        begin += loop.body_duration + stretch


def _points(name: str, domain: Linspace, values: Values) -> npt.NDArray[np.float64]:
    given = values.get(name)
    if given is None:
        return domain.values()
    points = np.asarray(given, dtype=np.float64)
    if points.shape != (domain.num,):
        raise ValueError(f"{name!r} has {domain.num} points, but {points.shape} values were given")
    return points


def _lookup(env: Mapping[str, float], var: Var) -> float:
    if var.var not in env:
        raise ValueError(f"{var} is not swept by an enclosing loop")
    return env[var.var]


def _bind(op: Operation, env: Mapping[str, float]) -> Operation:
    update = {
        field: _lookup(env, value)
        for field in type(op).model_fields
        if isinstance(value := getattr(op, field), Var)
    }
    return op.model_copy(update=update) if update else op
