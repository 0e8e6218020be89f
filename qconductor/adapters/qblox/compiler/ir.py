"""The sequencer-level intermediate representation.

A sequencer's program is a tree: a :class:`Loop` (played ``count`` times) whose body is a
:class:`Block` of timed :class:`Play` and :class:`Acquire` events. Time inside a block is
integer nanoseconds from the block's start. The repetition loop is a ``Loop`` like any other,
so sweeps and nested loops (real-time loops, later conditionals) are nodes of the tree, never
unrolled copies of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Play:
    time: int
    wave_i: int
    wave_q: int
    gain: float  # fraction of full scale, applied with set_awg_gain on both paths
    op_index: int  # the schedule operation this came from, for diagnostics
    duration: int


@dataclass(frozen=True, slots=True)
class Acquire:
    time: int
    acq_index: int
    bin_index: int
    op_index: int
    duration: int


Event = Play | Acquire


@dataclass(slots=True)
class Block:
    duration: int
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class Loop:
    """``body`` played ``count`` times back to back, with the NCO phase reset at each start."""

    label: str
    count: int
    body: Block
    reset_phase: bool = True
