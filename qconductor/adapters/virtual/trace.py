"""What a sequencer did, event by event: the output of the Q1ASM interpreter.

A :class:`SequencerTrace` lists real-time events (:class:`Event`) in time order, with runs of
identical loop iterations folded into :class:`Repeat` items. Times are ns after the end of the
sequencer's first ``wait_sync`` (the common origin of synchronised sequencers; the program start
when there is none). Each event carries the full output state in force from its time on (gains,
offsets, markers, NCO), so a consumer never replays the program; ``changes`` says which parts of
that state the event's parameter update changed.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from qconductor.adapters.qblox.q1asm import ISA, NUM_REGISTERS, parse_program
from qconductor.protocol.errors import QconductorError

__all__ = ["Event", "EventKind", "Repeat", "SequencerTrace", "TraceItem", "WaveArray"]

WaveArray = npt.NDArray[np.float64]

EventKind = Literal[
    "upd_param", "play", "acquire", "acquire_weighed", "acquire_ttl_open", "acquire_ttl_close"
]
Change = Literal["gain", "offset", "markers", "freq", "phase", "reset_ph"]


@dataclass(frozen=True, slots=True)
class Event:
    """One real-time instruction that updates parameters, plays or acquires.

    ``duration`` is the time until the next real-time instruction. Gains and offsets are
    fractions of full scale per path (int16 / 32768, as the hardware applies them).
    ``nco_phase`` is the carrier phase in radians at ``time`` (accumulated since the last
    ``reset_ph``, plus ``set_ph``, ``set_ph_delta`` and the ``nco_phase_offs`` setting): the
    carrier is ``exp(1j * (nco_phase + 2 pi nco_freq (t - time) 1e-9))`` until the next change.
    """

    time: int
    kind: EventKind
    duration: int
    line: int  # program source line
    gain: tuple[float, float]
    offset: tuple[float, float]
    markers: int  # marker bits in force
    nco_freq: float  # Hz
    nco_phase: float  # radians at ``time``
    changes: frozenset[Change] = frozenset()
    waves: tuple[int, int] | None = None  # play: waveform indices of path 0, path 1
    wave_data: tuple[WaveArray, WaveArray] | None = None
    acq_index: int | None = None  # acquisitions
    bin: int | None = None
    length: int | None = None  # acquire: integration length; weighed: longest weight
    weights: tuple[int, int] | None = None  # acquire_weighed: weight indices
    weight_data: tuple[WaveArray, WaveArray] | None = None
    bin_register: int | None = None  # the register the bin came from, if any

    def shifted(self, dt: int, bin_step: int = 0) -> Event:
        """This event ``dt`` ns later, its bin advanced by ``bin_step``."""
        if bin_step and self.bin is not None:
            return dataclasses.replace(self, time=self.time + dt, bin=self.bin + bin_step)
        return dataclasses.replace(self, time=self.time + dt)


@dataclass(frozen=True, slots=True)
class Repeat:
    """``count`` more copies of the loop iteration ``body`` (the items just before this one):
    copy ``k`` (1..count) is ``body`` shifted by ``k * period`` ns, with the bin of
    ``body[i]`` advanced by ``k * bin_steps[i]`` (append-mode bin counters)."""

    count: int
    body: tuple[TraceItem, ...]
    period: int
    bin_steps: tuple[int, ...]

    @property
    def bin_advance(self) -> dict[int, int]:
        """Bin advance per iteration by acquisition index (the largest step seen)."""
        out: dict[int, int] = {}
        for item, step in zip(self.body, self.bin_steps, strict=True):
            if isinstance(item, Event) and item.acq_index is not None and step:
                out[item.acq_index] = max(out.get(item.acq_index, 0), step)
        return out

    @property
    def end(self) -> int:
        """When the last copy's last item starts (plus its duration for an event)."""
        return self.period * self.count + _item_end(self.body[-1]) if self.body else 0


TraceItem = Event | Repeat


def _item_end(item: TraceItem) -> int:
    if isinstance(item, Event):
        return item.time + item.duration
    return item.end


def _expand(items: Sequence[TraceItem], dt: int) -> Iterator[Event]:
    for item in items:
        if isinstance(item, Event):
            yield item.shifted(dt) if dt else item
            continue
        for k in range(1, item.count + 1):
            for sub, step in zip(item.body, item.bin_steps, strict=True):
                if isinstance(sub, Event):
                    yield sub.shifted(dt + k * item.period, k * step)
                else:  # a nested repeat: the interpreter only folds it with zero bin steps
                    yield from _expand((sub,), dt + k * item.period)


@dataclass(frozen=True, slots=True)
class SequencerTrace:
    """Everything one sequencer did: ``items`` in time order, when it stopped (``end_time``),
    and how many instructions the interpreter executed one by one (``instructions``)."""

    items: tuple[TraceItem, ...]
    end_time: int
    instructions: int

    def events(self) -> list[Event]:
        """Every event, repeats unrolled (bins advanced), in time order."""
        return list(_expand(self.items, 0))

    def events_before(self, stop: int) -> list[Event]:
        """The events that start before ``stop`` ns, repeats unrolled only as far as needed
        (one repetition of a folded 10^6-repetition loop costs one repetition)."""
        return list(itertools.takewhile(lambda e: e.time < stop, _expand(self.items, 0)))

    @property
    def event_count(self) -> int:
        """How many events :meth:`events` would return, without unrolling."""
        return _count(self.items)


def _count(items: Sequence[TraceItem]) -> int:
    total = 0
    for item in items:
        total += 1 if isinstance(item, Event) else item.count * _count(item.body)
    return total


# --- the decoded program, and which loop bodies the interpreter may fold ------------------

Arg = tuple[bool, int]  # (is a register, register number or immediate / resolved label)
Decoded = tuple[str, tuple[Arg, ...], int]  # mnemonic, operands, source line
MASK32: Final = 0xFFFFFFFF
ACQUIRES: Final = frozenset({"acquire", "acquire_weighed", "acquire_ttl"})
_NO_FOLD: Final = frozenset({"stop", "wait_sync"})  # latches: the fold replays them
_JUMPS: Final = {"jmp": 0, "loop": 1, "jlt": 2, "jge": 2}  # position of the target
ILLEGAL: Final = "SEQUENCE PROCESSOR Q1 ILLEGAL INSTRUCTION"


def signed(value: int, bits: int = 32) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def shift_item(item: TraceItem, dt: int) -> TraceItem:
    if isinstance(item, Event):
        return item.shifted(dt)
    return Repeat(
        item.count, tuple(shift_item(i, dt) for i in item.body), item.period, item.bin_steps
    )


def nested_bins(body: tuple[TraceItem, ...], changed: Mapping[int, int]) -> bool:
    """Whether a nested Repeat holds an acquisition whose bin comes from a changing register."""
    return any(isinstance(i, Repeat) and _any_bin(i.body, changed) for i in body)


def _any_bin(items: tuple[TraceItem, ...], changed: Mapping[int, int]) -> bool:
    for item in items:
        if isinstance(item, Event) and item.bin_register in changed:
            return True
        if isinstance(item, Repeat) and _any_bin(item.body, changed):
            return True
    return False


def body_confined(prog: tuple[Decoded, ...], start: int, stop: int) -> bool:
    """Whether execution entering [start, stop] can leave it only by falling through stop,
    without a stop or a wait_sync in it."""
    for op, args, _ in prog[start : stop + 1]:
        if op in _NO_FOLD:
            return False
        at = _JUMPS.get(op)
        if at is not None and (args[at][0] or not start <= args[at][1] <= stop):
            return False
    return True


def body_reads_ok(
    prog: tuple[Decoded, ...], start: int, stop: int, counter: int, changed: frozenset[int]
) -> bool:
    """Whether the loop body reads the counter only in its own loop instruction, and changing
    registers only as acquisition bins or in ``add``/``sub`` onto themselves."""
    for index in range(start, stop + 1):
        op, args, _ = prog[index]
        for pos, (is_reg, reg) in enumerate(args):
            if not is_reg:
                continue
            if reg == counter and index != stop:
                return False
            if reg not in changed:
                continue
            if op in ACQUIRES and pos == 1:
                continue
            self_add = op in ("add", "sub") and args[0] == args[2] == (True, reg)
            if self_add and pos != 1 and not (args[1][0] and args[1][1] in changed | {counter}):
                continue
            return False
    return True


def decode_program(
    text: str, fail: Callable[[str, str, int], QconductorError]
) -> tuple[Decoded, ...]:
    """The program with label references resolved; what the assembler would reject raises."""
    parsed = parse_program(text)
    if parsed.diagnostics:
        first = parsed.diagnostics[0]
        raise fail(ILLEGAL, first.message, int(first.path.split()[-1]))
    labels = {label.name: label.instruction for label in parsed.labels}
    out: list[Decoded] = []
    for ins in parsed.instructions:
        spec = ISA.get(ins.mnemonic)
        if spec is None:
            raise fail(ILLEGAL, f"unknown instruction {ins.mnemonic!r}", ins.line)
        if len(ins.operands) != len(spec.operands):
            detail = f"{ins.mnemonic} takes {len(spec.operands)} operands ({spec.signature})"
            raise fail(ILLEGAL, detail, ins.line)
        args: list[Arg] = []
        for operand, want in zip(ins.operands, spec.operands, strict=True):
            if operand.kind not in want.kinds:
                raise fail(ILLEGAL, f"{operand.text!r} is not {want.signature}", ins.line)
            if operand.kind == "L":
                if operand.label not in labels:
                    raise fail(ILLEGAL, f"undefined label {operand.text}", ins.line)
                args.append((False, labels[operand.label]))
            elif operand.kind == "R" and operand.value >= NUM_REGISTERS:
                raise fail(ILLEGAL, f"no register {operand.text}", ins.line)
            else:
                args.append((operand.kind == "R", operand.value))
        out.append((ins.mnemonic, tuple(args), ins.line))
    return tuple(out)


ACQ_KINDS: Final[Mapping[tuple[str, bool], EventKind]] = {
    ("acquire", False): "acquire",
    ("acquire_weighed", False): "acquire_weighed",
    ("acquire_ttl", True): "acquire_ttl_open",
    ("acquire_ttl", False): "acquire_ttl_close",
}
REAL_TIME: Final = frozenset(m for m, spec in ISA.items() if spec.real_time)
ALU: Final[Mapping[str, Callable[[list[int]], int]]] = {
    "move": lambda v: v[0] & MASK32,
    "not": lambda v: ~v[0] & MASK32,
    "add": lambda v: (v[0] + v[1]) & MASK32,
    "sub": lambda v: (v[0] - v[1]) & MASK32,
    "and": lambda v: v[0] & v[1] & MASK32,
    "or": lambda v: (v[0] | v[1]) & MASK32,
    "xor": lambda v: (v[0] ^ v[1]) & MASK32,
    "asl": lambda v: (v[0] << (v[1] & 31)) & MASK32,
    "asr": lambda v: (signed(v[0]) >> (v[1] & 31)) & MASK32,
}
