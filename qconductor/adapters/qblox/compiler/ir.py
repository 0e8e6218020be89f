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
    gain_i: int  # set_awg_gain immediates (int16), set only when they change
    gain_q: int


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


Action = Play | Acquire | AcquireTtl


@dataclass(slots=True)
class Event:
    time: int
    op_index: int  # the schedule operation this came from, for diagnostics
    params: list[str] = field(default_factory=list)
    action: Action | None = None
    # how long the action occupies the sequencer (a pulse's waveform, an integration window):
    # used to check overlaps, not for timing, which is always "until the next event"
    busy_until: int | None = None

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

    ``setup`` runs once before the loop (register initialisation), ``head`` at the start of
    every iteration (phase reset, restoring the base NCO frequency and offsets), ``teardown``
    once after it (offsets and markers back to zero, so nothing leaks into the next job)."""

    label: str
    count: int
    body: Block
    setup: list[str] = field(default_factory=list)
    head: list[str] = field(default_factory=lambda: ["reset_ph"])
    teardown: list[str] = field(default_factory=list)
