"""The sequencer-level intermediate representation.

A sequencer's program is a tree: a :class:`Loop` (played ``count`` times) whose body is a
:class:`Block` of :class:`Event`s. An event is one instant on the sequencer's timeline: the
parameter instructions that take effect then (offsets, markers, NCO frequency and phase), and
at most one action that applies them while it starts (a play or an acquisition). An event
without an action applies its parameters with ``upd_param``. Time inside a block is integer
nanoseconds from the block's start.

The repetition loop is a ``Loop`` like any other, so sweeps and nested loops (real-time
loops, later conditionals) are nodes of the tree, never unrolled copies of it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Register:
    """A sequencer register, ``R0`` … ``R63``."""

    index: int

    def __str__(self) -> str:
        return f"R{self.index}"


BinIndex = int | Register

# Actions are NamedTuples: built once or more per operation, and a frozen dataclass's
# construction costs several times more.


class Play(NamedTuple):
    wave_i: int
    wave_q: int
    gain_i: int | Register  # set_awg_gain operands (int16 immediates, or swept registers),
    gain_q: int | Register  # set only when they change


class Acquire(NamedTuple):
    """``acquire`` (integration, thresholded, trace) or ``acquire_weighed`` (with weights).

    A register bin (append mode) is incremented after the acquisition."""

    acq_index: int
    bin: BinIndex
    weights: tuple[BinIndex, BinIndex] | None = None  # registers when ``bin`` is one


class AcquireTtl(NamedTuple):
    """Open (``enable``) or close the TTL counting window of an acquisition."""

    acq_index: int
    bin: BinIndex
    enable: bool


class VarWait(NamedTuple):
    """A delay as long as ``register`` (ns) at this instant; the timeline stretches here.
    ``longest`` is its largest value: beyond one ``wait``, it is paid out in chunks."""

    register: Register
    longest: int
    scratch: Register | None = None  # for the chunks


class Latch(NamedTuple):
    """``set_latch_en 1`` (``enable``) or ``latch_rst``: a conditional block's sequencer
    listens to the trigger network, and forgets earlier triggers."""

    enable: bool


class Nested(NamedTuple):
    """A real-time loop starting at this instant and lasting ``duration`` ns in all."""

    loop: Loop
    duration: int


# tuple.__new__ straight from C: the NamedTuple's own __new__ is a Python function, which made
# building the action a seventh of lowering a pulse
new_play: Callable[[tuple[int, int, int | Register, int | Register]], Play] = functools.partial(
    tuple.__new__, Play
)
# (every field given: a tuple built this way skips the defaults)
new_acquire: Callable[[tuple[int, BinIndex, None]], Acquire] = functools.partial(
    tuple.__new__, Acquire
)

Action = Play | Acquire | AcquireTtl | VarWait | Nested | Latch


@dataclass(slots=True)
class Event:
    time: int
    op_index: int  # the schedule operation this came from, for diagnostics
    params: list[str] = field(default_factory=list)
    action: Action | None = None
    # how long the action occupies the sequencer (a pulse's waveform, an integration window):
    # used to check overlaps, not for timing, which is always "until the next event"
    busy_until: int | None = None
    cond: int = 0  # in a conditional block: the trigger mask (set_cond), 0 otherwise

    def merge(self, other: Event) -> None:
        """Fold ``other`` (same time) into this event; the caller checks the actions."""
        self.params.extend(other.params)
        if other.action is not None:
            self.action = other.action
            self.busy_until = other.busy_until


@dataclass(slots=True)
class Block:
    duration: int
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class Loop:
    """``body`` played ``count`` times back to back.

    ``setup`` runs each time the loop is entered (register initialisation), ``head`` at the
    start of every iteration (phase reset, restoring the base NCO frequency and offsets),
    ``step`` at the end of every iteration (sweep registers advance: (instruction, label)),
    ``teardown`` once after it (offsets and markers back to zero, so nothing leaks into the
    next job). ``counter`` counts the iterations down."""

    label: str
    count: int
    body: Block
    setup: list[str] = field(default_factory=list)
    head: list[str] = field(default_factory=lambda: ["reset_ph"])
    teardown: list[str] = field(default_factory=list)
    step: list[tuple[str, str | None]] = field(default_factory=list)
    counter: Register = field(default_factory=lambda: Register(0))
