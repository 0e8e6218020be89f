"""The simulated lab's event-level Q1ASM interpreter: what plays and acquires when.

:func:`interpret` parses a sequencer's program once and runs it with a program counter, 64
32-bit registers and real-time time accounting, recording a :class:`SequencerTrace` of events
instead of rendering samples. Semantics follow the Qblox sequencer as q1simulator 1.3.4 models
it: parameter instructions (``set_awg_gain``, ``set_awg_offs``, ``set_mrk``, ``set_freq``,
``set_ph``, ``set_ph_delta``, ``reset_ph``) are latched and take effect at the next
``upd_param``, ``play`` or ``acquire*``; time 0 is the end of the first ``wait_sync``.

Repetition compression: the second time a backward ``loop`` is reached, the iteration just run
is compared with the one before. When registers other than the counter are unchanged or moved by
a constant delta that is only read as an acquisition bin (or added to itself), the real-time
state is the same, and the body cannot jump out, the remaining iterations become one
:class:`Repeat`. Anything else runs iteration by iteration under an instruction budget. A body
with latch and conditional instructions folds as far as the trigger source answers each later
iteration's latch windows as it answered the one just run (the same addresses, the windows
shifted by the period): up to the first iteration that hears something else, after which the
loop runs on and may fold again. A source that raises nothing from ``quiet_from`` on is not
asked about windows that start there or later (``no_triggers`` is never asked).

Hardware faults raise ``QconductorError(INSTRUMENT_ERROR)`` whose message starts with the
sequencer status flag (qblox-instruments ``SequencerStatusFlags``, as q1simulator prints them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from qconductor.adapters.qblox.q1asm import NUM_REGISTERS
from qconductor.protocol.compiled import SequenceDict, SequencerProgram
from qconductor.protocol.errors import ErrorCode, QconductorError

from .trace import (
    ACQ_KINDS,
    ACQUIRES,
    ALU,
    ILLEGAL,
    MASK32,
    REAL_TIME,
    Arg,
    Change,
    Event,
    EventKind,
    Repeat,
    SequencerTrace,
    TraceItem,
    WaveArray,
    body_confined,
    body_reads_ok,
    decode_program,
    nested_bins,
    shift_item,
    signed,
)

__all__ = [
    "FLAG_ACQ_BIN_INDEX",
    "FLAG_ACQ_INDEX",
    "FLAG_FORCED_STOP",
    "FLAG_ILLEGAL",
    "FLAG_WAIT_LONG",
    "FLAG_WAIT_SHORT",
    "FLAG_WAVE_INDEX",
    "FLAG_WEIGHT_INDEX",
    "TriggerSource",
    "interpret",
    "interpret_sequencer",
    "no_triggers",
]

FLAG_ILLEGAL: Final = ILLEGAL
FLAG_WAIT_SHORT: Final = "WAIT TIME < 4 ns"
FLAG_WAIT_LONG: Final = "WAIT TIME > 65535 ns"
FLAG_ACQ_INDEX: Final = "ACQ INDEX INVALID"
FLAG_ACQ_BIN_INDEX: Final = "ACQ BIN INDEX INVALID"
FLAG_WAVE_INDEX: Final = "AWG WAVE PLAYBACK INDEX INVALID PATH {path}"
FLAG_WEIGHT_INDEX: Final = "ACQ WEIGHT PLAYBACK INDEX INVALID PATH {path}"
FLAG_FORCED_STOP: Final = "FORCED STOP"

DEFAULT_MAX_INSTRUCTIONS: Final = 50_000_000
_TURN: Final = 4_000_000_000  # phase accumulator units per turn: set_freq steps x ns
_GAIN_SCALE: Final = 32768.0
_ALWAYS_QUIET: Final = -(2**62)
_NEVER_QUIET: Final = 2**62
_NOTHING: Final[frozenset[int]] = frozenset()

TriggerSource = Callable[[int, int], Collection[int]]
"""``(start_ns, stop_ns) -> trigger addresses (1..15)`` raised while the latch was enabled.
The answer must depend on the window alone: folding a loop asks about later iterations'
windows before they run, and may ask about a window again."""


def no_triggers(start_ns: int, stop_ns: int) -> Collection[int]:
    """The default trigger source: nothing ever raises a trigger."""
    return ()


def interpret_sequencer(
    program: SequencerProgram, path: str, *, triggers: TriggerSource = no_triggers, **kw: Any
) -> SequencerTrace:
    """Run a compiled sequencer with its own settings (NCO, integration length)."""
    if program.sequence is None:
        return SequencerTrace((), 0, 0)
    s = program.settings
    return interpret(
        program.sequence,
        path=path,
        nco_freq_hz=s.nco_freq,
        nco_phase_offs_deg=s.nco_phase_offs,
        integration_length_ns=s.integration_length_acq,
        triggers=triggers,
        **kw,
    )


def interpret(
    sequence: Mapping[str, Any] | SequenceDict,
    *,
    path: str = "sequencer",
    nco_freq_hz: float = 0.0,
    nco_phase_offs_deg: float = 0.0,
    integration_length_ns: int | None = None,
    triggers: TriggerSource = no_triggers,
    max_instructions: int = DEFAULT_MAX_INSTRUCTIONS,
    compress: bool = True,
    stop_ns: int | None = None,
    quiet_from: int | None = None,
) -> SequencerTrace:
    """Execute one sequencer's ``sequence`` dict and return its trace; see the module doc.

    ``stop_ns``: stop once the real-time clock reaches it (ns after the first ``wait_sync``):
    the trace then holds every event before ``stop_ns``, and faults later in the program go
    unseen. Default: run to the program's ``stop``. ``quiet_from``: ``triggers`` raises nothing
    in a latch window starting at or after it (ns), so it is not asked (the default: never
    quiet, unless ``triggers`` is :func:`no_triggers`)."""
    seq = sequence.to_driver() if isinstance(sequence, SequenceDict) else sequence
    run = _Run(seq, path, triggers)
    if quiet_from is not None:
        run.quiet_from = quiet_from
    run.freq = round(4 * nco_freq_hz)
    run.phase0 = math.radians(nco_phase_offs_deg)
    run.integration = integration_length_ns
    return run.execute(max_instructions, compress, stop_ns)


def _arrays(table: Mapping[str, Any]) -> dict[int, WaveArray]:
    return {int(e["index"]): np.asarray(e["data"], dtype=np.float64) for e in table.values()}


class _Run:
    """One execution: the decoded program, the sequencer state and the recorded items."""

    def __init__(self, seq: Mapping[str, Any], path: str, triggers: TriggerSource) -> None:
        self.path = path
        self.triggers = triggers
        self.quiet_from = _ALWAYS_QUIET if triggers is no_triggers else _NEVER_QUIET
        text = seq.get("program", "")
        self.program = decode_program(text if isinstance(text, str) else "\n".join(text), self.fail)
        self.waves = _arrays(seq.get("waveforms", {}))
        self.weights = _arrays(seq.get("weights", {}))
        self.bins = {
            int(e["index"]): int(e["num_bins"]) for e in seq.get("acquisitions", {}).values()
        }
        self.integration: int | None = None
        self.regs = [0] * NUM_REGISTERS
        self.clock = 0  # ns since the program started
        self.origin = 0  # clock at the end of the first wait_sync
        self.synced = False
        self.items: list[TraceItem] = []
        # latched parameters, applied by the next upd_param / play / acquire*
        self.p_gain: tuple[float, float] | None = None
        self.p_offs: tuple[float, float] | None = None
        self.p_mrk: int | None = None
        self.p_freq: int | None = None
        self.p_ph: int | None = None
        self.p_delta = 0
        self.p_reset = False
        # output state: NCO phase at t is acc + freq * (t - acc_time) + ph_offs + ph_delta
        self.gain, self.offs, self.mrk = (1.0, 1.0), (0.0, 0.0), 0
        self.freq, self.acc, self.acc_time, self.ph_offs, self.ph_delta = 0, 0, 0, 0, 0
        self.phase0 = 0.0
        self.ttl_open = False
        self.cond: tuple[int, int, int] | None = None  # mask, operator, else-wait
        self.latch_since: int | None = None
        self.latched: set[int] = set()
        self.queries: list[tuple[int, int, frozenset[int]]] = []  # trigger source calls
        self.confined_memo: dict[tuple[int, int], bool] = {}

    def fail(self, flag: str, detail: str, line: int) -> QconductorError:
        where = f"{self.path}.program[line {line}]"
        return QconductorError(ErrorCode.INSTRUMENT_ERROR, f"{flag}: {detail}", where)

    # --- the main loop ----------------------------------------------------------------------
    def execute(self, budget: int, compress: bool, stop_ns: int | None = None) -> SequencerTrace:
        prog, regs, count, pc = self.program, self.regs, 0, 0
        snaps: dict[int, _Snapshot] = {}
        tried: set[int] = set()
        while True:
            if pc >= len(prog):
                last = prog[-1][2] if prog else 0
                raise self.fail(FLAG_ILLEGAL, "execution ran past the last instruction", last)
            count += 1
            if count > budget:
                detail = f"more than {budget} instructions executed; the sequencer never stops"
                raise self.fail(FLAG_FORCED_STOP, detail, prog[pc][2])
            op, args, line = prog[pc]
            pc += 1
            v = [regs[x] if r else x for r, x in args]
            if op == "loop":
                target = v[1]
                here = pc - 1
                if compress and target < pc and here not in tried and self.confined(target, here):
                    if here not in snaps:
                        snaps[here] = self.snapshot()
                    else:
                        tried.add(here)
                        if self.fold(snaps.pop(here), target, here, args[0][1]):
                            tried.discard(here)  # folded up to a change: try again after it
                reg = args[0][1]
                regs[reg] = (regs[reg] - 1) & MASK32
                if regs[reg]:
                    pc = target
                else:
                    snaps.pop(here, None)
                    tried.discard(here)
                if not snaps:
                    self.queries.clear()
            elif op in REAL_TIME:
                self.real_time(op, args, v, line)
                if stop_ns is not None and self.synced and self.clock - self.origin >= stop_ns:
                    return SequencerTrace(tuple(self.items), self.clock - self.origin, count)
            elif op == "stop":
                return SequencerTrace(tuple(self.items), self.clock - self.origin, count)
            elif op == "jmp":
                pc = v[0]
            elif op == "jlt" or op == "jge":
                if (v[0] < v[1]) == (op == "jlt"):
                    pc = v[2]
            elif op == "nop":
                pass
            else:
                regs[args[-1][1]] = ALU[op](v)

    def confined(self, start: int, stop: int) -> bool:
        found = self.confined_memo.get((start, stop))
        if found is None:
            found = self.confined_memo[(start, stop)] = body_confined(self.program, start, stop)
        return found

    def snapshot(self) -> _Snapshot:
        return _Snapshot(
            self.regs[:],
            self.rt_state(),
            self.clock,
            len(self.items),
            len(self.queries),
            self.latch_since,
        )

    def rt_state(self) -> tuple[object, ...]:
        """The real-time state (but when the latch window started: see :meth:`fold`)."""
        acc_now = (self.acc + self.freq * (self.clock - self.acc_time)) % _TURN
        pending = (self.p_gain, self.p_offs, self.p_mrk, self.p_freq, self.p_ph, self.p_delta)
        outputs = (self.gain, self.offs, self.mrk, self.freq, acc_now, self.ph_offs, self.ph_delta)
        latch = (self.latch_since is not None, frozenset(self.latched))
        return (*pending, self.p_reset, *outputs, self.ttl_open, self.cond, *latch)

    # --- real-time instructions -------------------------------------------------------------
    def advance(self, duration: int, line: int) -> None:
        if duration < 4:
            raise self.fail(FLAG_WAIT_SHORT, f"duration {duration} ns", line)
        if duration > 65535:
            raise self.fail(FLAG_WAIT_LONG, f"duration {duration} ns", line)
        self.clock += duration

    def real_time(self, op: str, args: tuple[Arg, ...], v: list[int], line: int) -> None:
        if op == "set_awg_gain":
            self.p_gain = (signed(v[0], 16) / _GAIN_SCALE, signed(v[1], 16) / _GAIN_SCALE)
        elif op == "set_awg_offs":
            self.p_offs = (signed(v[0], 16) / _GAIN_SCALE, signed(v[1], 16) / _GAIN_SCALE)
        elif op == "set_mrk":
            self.p_mrk = v[0] & 0xF
        elif op == "set_freq":
            self.p_freq = signed(v[0])
        elif op == "set_ph":
            self.p_ph = v[0]
        elif op == "set_ph_delta":
            self.p_delta = v[0]
        elif op == "reset_ph":
            self.p_reset = True
        elif op == "wait_sync":
            self.advance(v[0], line)
            if not self.synced:
                self.synced, self.origin = True, self.clock
                self.items = [shift_item(item, -self.origin) for item in self.items]
        elif op == "set_cond":
            self.cond = (v[1], v[2], v[3]) if v[0] else None
        elif op == "set_latch_en" or op == "latch_rst":
            self.latch(op, v[0])
            self.advance(v[-1], line)
        elif self.cond is not None and not self.condition():
            self.clear_latched()  # the else branch: wait, and drop the latched parameters
            self.advance(self.cond[2], line)
        elif op == "wait" or op == "wait_trigger":  # wait_trigger: the trigger is taken as present
            self.advance(v[-1], line)
        else:
            self.event(op, args, v, line)
            self.advance(v[-1], line)

    def latch(self, op: str, enable: int) -> None:
        now = self.clock - self.origin
        if op == "latch_rst":
            self.latched.clear()
            self.latch_since = now if self.latch_since is not None else None
        elif enable and self.latch_since is None:
            self.latch_since = now
        elif not enable and self.latch_since is not None:
            self.latched.update(self.heard(self.latch_since, now))
            self.latch_since = None

    def heard(self, start: int, stop: int) -> frozenset[int]:
        """The trigger source's answer for a latch window, logged for :meth:`fold`."""
        found = frozenset(self.triggers(start, stop)) if start < self.quiet_from else _NOTHING
        self.queries.append((start, stop, found))
        return found

    def condition(self) -> bool:
        assert self.cond is not None
        mask, operator, _ = self.cond
        now = self.clock - self.origin
        if self.latch_since is not None and now > self.latch_since:
            self.latched.update(self.heard(self.latch_since, now))
            self.latch_since = now
        bits = sum(1 for a in self.latched if 1 <= a <= 15 and mask >> (a - 1) & 1)
        total = bin(mask & 0x7FFF).count("1")
        match = (bits != 0, bits == 0, bits == total, bits != total, bits % 2 == 1)
        return match[operator] if operator < 5 else bits % 2 == 0

    def clear_latched(self) -> None:
        self.p_gain = self.p_offs = None
        self.p_mrk = self.p_freq = self.p_ph = None
        self.p_delta, self.p_reset = 0, False

    def apply(self) -> frozenset[Change]:
        """Apply the latched parameters at the current time; what changed."""
        changes: set[Change] = set()
        t = self.clock
        if self.p_gain is not None:
            self.gain, self.p_gain = self.p_gain, None
            changes.add("gain")
        if self.p_offs is not None:
            self.offs, self.p_offs = self.p_offs, None
            changes.add("offset")
        if self.p_mrk is not None:
            if self.p_mrk != self.mrk:
                changes.add("markers")
            self.mrk, self.p_mrk = self.p_mrk, None
        if self.p_reset:
            self.acc, self.acc_time, self.ph_offs, self.ph_delta = 0, t, 0, 0
            self.p_reset = False
            changes.add("reset_ph")
        if self.p_ph is not None:
            self.ph_offs, self.p_ph = 4 * self.p_ph, None
            changes.add("phase")
        if self.p_freq is not None:
            self.acc = (self.acc + self.freq * (t - self.acc_time)) % _TURN
            self.acc_time, self.freq, self.p_freq = t, self.p_freq, None
            changes.add("freq")
        if self.p_delta:
            self.ph_delta = (self.ph_delta + 4 * self.p_delta) % _TURN
            self.p_delta = 0
            changes.add("phase")
        return frozenset(changes)

    def event(self, op: str, args: tuple[Arg, ...], v: list[int], line: int) -> None:
        changes = self.apply()
        t = self.clock
        turns = (self.acc + self.freq * (t - self.acc_time) + self.ph_offs + self.ph_delta) % _TURN
        extra: dict[str, Any] = {}
        kind: EventKind = "upd_param"
        if op == "play":
            kind = "play"
            data = tuple(self.lookup(self.waves, v[p], FLAG_WAVE_INDEX, p, line) for p in (0, 1))
            extra = {"waves": (v[0], v[1]), "wave_data": data}
        elif op in ACQUIRES:
            extra = self.acquisition(op, v, line)
            extra["bin_register"] = args[1][1] if args[1][0] else None
            kind = ACQ_KINDS[op, bool(op == "acquire_ttl" and v[2])]
        self.items.append(
            Event(
                time=t - self.origin,
                kind=kind,
                duration=v[-1],
                line=line,
                gain=self.gain,
                offset=self.offs,
                markers=self.mrk,
                nco_freq=self.freq / 4,
                nco_phase=2 * math.pi * turns / _TURN + self.phase0,
                changes=changes,
                **extra,
            )
        )

    def acquisition(self, op: str, v: list[int], line: int) -> dict[str, Any]:
        index, bin_ = v[0], v[1]
        if index not in self.bins:
            raise self.fail(FLAG_ACQ_INDEX, f"acquisition index {index} is not declared", line)
        if op == "acquire_ttl":
            self.ttl_open = bool(v[2])
        if bin_ >= self.bins[index]:
            detail = f"bin {bin_} of acquisition {index}, which has {self.bins[index]} bins"
            raise self.fail(FLAG_ACQ_BIN_INDEX, detail, line)
        extra: dict[str, Any] = {"acq_index": index, "bin": bin_}
        if op == "acquire":
            extra["length"] = self.integration
        elif op == "acquire_weighed":
            data = tuple(
                self.lookup(self.weights, v[p], FLAG_WEIGHT_INDEX, p - 2, line) for p in (2, 3)
            )
            extra |= {"weights": (v[2], v[3]), "weight_data": data}
            extra["length"] = max(len(data[0]), len(data[1]))
        return extra

    def lookup(
        self, table: dict[int, WaveArray], index: int, flag: str, path: int, line: int
    ) -> WaveArray:
        found = table.get(index)
        if found is None:
            raise self.fail(flag.format(path=path), f"index {index} is not in the sequence", line)
        return found

    # --- repetition compression -------------------------------------------------------------
    def fold(self, first: _Snapshot, start: int, here: int, counter: int) -> bool:
        """Fold the remaining iterations of the loop at ``here`` into a Repeat, as far as they
        are copies of the one just run (from snapshot ``first`` to now): the same state, and
        the trigger source answering every latch window as it did, shifted by the period.
        Whether it folded only some of them (a trigger changed): the loop runs on from there."""
        regs = self.regs
        if first.state != self.rt_state() or self.cond is not None:
            return False
        period = self.clock - first.clock
        # the latch window open since the same time (the body does not touch the latch), or
        # since as long before (the body reads or resets it: its windows repeat)
        moves = first.latch_since != self.latch_since
        if moves and (self.latch_since or 0) - (first.latch_since or 0) != period:
            return False
        changed = {
            r: signed(regs[r] - first.regs[r])
            for r in range(NUM_REGISTERS)
            if regs[r] != first.regs[r]
        }
        changed.pop(counter, None)
        if not body_reads_ok(self.program, start, here, counter, frozenset(changed)):
            return False
        body = tuple(self.items[first.items :])
        if not body or nested_bins(body, changed):
            return False
        remaining = (regs[counter] - 1) & MASK32
        if remaining == 0:
            return False
        copies = self.copies(self.queries[first.queries :], period, remaining)
        if copies == 0:
            return False
        steps = tuple(
            changed.get(e.bin_register, 0)
            if isinstance(e, Event) and e.bin_register is not None
            else 0
            for e in body
        )
        for event, step in zip(body, steps, strict=True):
            if step and isinstance(event, Event) and event.bin is not None:
                assert event.acq_index is not None
                last = event.bin + copies * step
                if not 0 <= last < self.bins[event.acq_index]:
                    detail = f"bin {last} of acquisition {event.acq_index} in a later iteration"
                    raise self.fail(FLAG_ACQ_BIN_INDEX, detail, event.line)
        self.items.append(Repeat(copies, body, period, steps))
        for r, delta in changed.items():
            regs[r] = (regs[r] + copies * delta) & MASK32
        regs[counter] = (regs[counter] - copies) & MASK32  # 1 if all: the loop falls through
        self.clock += copies * period
        self.acc_time += copies * period  # the NCO state is periodic (checked above)
        if moves and self.latch_since is not None:
            self.latch_since += copies * period
        return copies < remaining

    def copies(self, queries: list[tuple[int, int, frozenset[int]]], period: int, most: int) -> int:
        """How many of the next ``most`` iterations (up to the first that differs) hear in their
        latch windows what the iteration just run heard in ``queries``; their windows are
        logged as if they had run (an enclosing loop folds on them)."""
        if not queries:
            return most
        silent = not any(q[2] for q in queries)
        first = min(q[0] for q in queries)
        for k in range(1, most + 1):
            shift = k * period
            if silent and first + shift >= self.quiet_from:
                return most  # nothing heard from here on: no need to log these windows
            answers = [
                (a + shift, b + shift, frozenset(self.triggers(a + shift, b + shift)))
                for a, b, _ in queries
            ]
            if any(got[2] != want[2] for got, want in zip(answers, queries, strict=True)):
                return k - 1
            self.queries.extend(answers)
        return most


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The sequencer when a backward ``loop`` was first reached: what :meth:`_Run.fold`
    compares the next iteration's end with."""

    regs: list[int]
    state: tuple[object, ...]
    clock: int
    items: int  # len(items) then
    queries: int  # len(queries) then
    latch_since: int | None
