"""The benchmark's schedule families, each built for a requested number of operations.

Every family repeats one *unit* (a sweep point, a T1 delay, a random gate sequence, a readout
round) ``n_ops // unit_ops`` times, unrolled: one operation per pulse, idle and integration, one
acquisition bin per unit. All of them compile for ``config/hardware/bench_4q.json`` (two
baseband QCMs drive ``q0:mw`` … ``q3:mw``, one baseband QRM reads ``q0:res`` … ``q3:res``
frequency-multiplexed); without an LO each clock equals the config's ``interm_freq``.

Timings follow the project's Rabi example: 40 ns DRAG (20 ns for the random gates), a 1 µs
readout pulse with a 900 ns integration starting 100 ns into it, and an idle for qubit
relaxation before each unit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qconductor.protocol.schedule import (
    DragPulse,
    GaussPulse,
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
)

HARDWARE_CONFIG = Path(__file__).resolve().parent.parent / "config" / "hardware" / "bench_4q.json"

QUBITS = 4
# Clock frequencies = the interm_freq of each port-clock in bench_4q.json (baseband, no LO).
DRIVE_IF = (80e6, -60e6, 100e6, -120e6)
READOUT_IF = (150e6, 250e6, -150e6, -250e6)

REPETITIONS = 1024
RELAXATION_NS = 50_000
PI_AMPLITUDE = 0.45
DRAG_BETA = 0.5  # ns
DRAG_NS = 40
GATE_NS = 20
READOUT_NS = 1_000
READOUT_AMPLITUDE = 0.2
INTEGRATION_DELAY_NS = 100  # from the readout pulse's start
INTEGRATION_NS = 900
T1_MAX_DELAY_NS = 60_000
RANDOM_GATES_PER_QUBIT = 10
RANDOM_PHASES = tuple(45.0 * k for k in range(8))  # a finite set: each phase is one waveform
MUX_ROUND_NS = 2_000  # readout pulse + resonator ring-down


def drive(q: int) -> tuple[str, str]:
    """(port, clock) that drives qubit ``q``."""
    return f"q{q}:mw", f"q{q}.01"


def readout(q: int) -> tuple[str, str]:
    """(port, clock) that reads qubit ``q`` out."""
    return f"q{q}:res", f"q{q}.ro"


def new_schedule(name: str, qubits: int) -> Schedule:
    sched = Schedule(name=name, repetitions=REPETITIONS)
    for q in range(qubits):
        sched.add_clock(drive(q)[1], DRIVE_IF[q])
        sched.add_clock(readout(q)[1], READOUT_IF[q])
    return sched


def add_readout(sched: Schedule, q: int, start: int, bin_index: int) -> None:
    """A readout pulse at ``start`` and its integration into ``bin_index`` of channel ``q``."""
    port, clock = readout(q)
    sched.add(
        SquarePulse(port=port, clock=clock, amplitude=READOUT_AMPLITUDE, duration=READOUT_NS),
        at=start,
    )
    sched.add(
        SSBIntegrationComplex(
            port=port, clock=clock, duration=INTEGRATION_NS, acq_channel=q, bin_index=bin_index
        ),
        at=start + INTEGRATION_DELAY_NS,
    )


# --- the four families --------------------------------------------------------------------------


def amplitude_sweep(n_ops: int) -> Schedule:
    """Unrolled amplitude Rabi on q0: per point Idle, DRAG, readout pulse, integration (4 ops)."""
    points = max(1, n_ops // 4)
    sched = new_schedule("bench_amplitude_sweep", qubits=1)
    port, clock = drive(0)
    for point, amplitude in enumerate(np.linspace(-0.9, 0.9, points)):
        sched.add(Idle(duration=RELAXATION_NS))
        pulse = sched.add(
            DragPulse(
                port=port, clock=clock, amplitude=float(amplitude), beta=DRAG_BETA, duration=DRAG_NS
            )
        )
        add_readout(sched, 0, pulse.end + 4, point)
    return sched


def t1_series(n_ops: int) -> Schedule:
    """T1 on q0: per delay Idle, pi pulse, Idle(delay), readout pulse, integration (5 ops)."""
    points = max(1, n_ops // 5)
    sched = new_schedule("bench_t1", qubits=1)
    port, clock = drive(0)
    delays = np.linspace(4, T1_MAX_DELAY_NS, points).round().astype(int)
    for point, delay in enumerate(delays):
        sched.add(Idle(duration=RELAXATION_NS))
        sched.add(
            DragPulse(
                port=port, clock=clock, amplitude=PI_AMPLITUDE, beta=DRAG_BETA, duration=DRAG_NS
            )
        )
        wait = sched.add(Idle(duration=int(delay)))
        add_readout(sched, 0, wait.end, point)
    return sched


def random_single_qubit(n_ops: int, seed: int = 1234) -> Schedule:
    """Random gate sequences on q0 and q1 in parallel, then both read out, multiplexed.

    Per sequence: Idle, 10 gates per qubit (DRAG or Gauss, random amplitude, phase a multiple
    of 45°), two readout pulses and two integrations (25 ops).
    """
    unit_ops = 1 + 2 * RANDOM_GATES_PER_QUBIT + 4
    sequences = max(1, n_ops // unit_ops)
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, 2, size=(sequences, RANDOM_GATES_PER_QUBIT, 2))
    amplitudes = rng.uniform(0.05, 0.9, size=kinds.shape)
    phases = rng.choice(np.array(RANDOM_PHASES), size=kinds.shape)
    sched = new_schedule("bench_random_single_qubit", qubits=2)
    for s in range(sequences):
        t = sched.add(Idle(duration=RELAXATION_NS)).end
        for g in range(RANDOM_GATES_PER_QUBIT):
            for q in range(2):
                port, clock = drive(q)
                amp, phase = float(amplitudes[s, g, q]), float(phases[s, g, q])
                gate: DragPulse | GaussPulse
                if kinds[s, g, q]:
                    gate = DragPulse(
                        port=port,
                        clock=clock,
                        amplitude=amp,
                        phase=phase,
                        beta=DRAG_BETA,
                        duration=GATE_NS,
                    )
                else:
                    gate = GaussPulse(
                        port=port, clock=clock, amplitude=amp, phase=phase, duration=GATE_NS
                    )
                sched.add(gate, at=t)
            t += GATE_NS
        for q in range(2):
            add_readout(sched, q, t + 4, s)
    return sched


def multiplexed_readout(n_ops: int) -> Schedule:
    """Four qubits read out at once on one QRM, round after round (4 pulses + 4 integrations).

    One sequencer per readout clock, four in all; round ``r`` goes to bin ``r`` of channels 0-3.
    """
    rounds = max(1, round(n_ops / (2 * QUBITS)))
    sched = new_schedule("bench_multiplexed_readout", qubits=QUBITS)
    for r in range(rounds):
        for q in range(QUBITS):
            add_readout(sched, q, r * MUX_ROUND_NS, r)
    return sched


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[int], Schedule]
    sizes: tuple[int, ...]  # requested operation counts
    summary: str


DECADES = (100, 1_000, 10_000, 100_000)

FAMILIES: tuple[Family, ...] = (
    Family(
        "sweep",
        amplitude_sweep,
        (100, 400, 1_000, 4_000, 10_000, 12_000, 100_000),
        "amplitude sweep: Idle, DRAG, readout, integration per point",
    ),
    Family("t1", t1_series, DECADES, "T1: Idle, pi pulse, Idle(delay), readout, integration"),
    Family(
        "random",
        random_single_qubit,
        DECADES,
        "random DRAG/Gauss on q0+q1 (10 each), multiplexed readout",
    ),
    Family(
        "mux4",
        multiplexed_readout,
        (100, 800, 1_000, 10_000, 100_000),
        "4-qubit multiplexed readout rounds on one QRM",
    ),
)


def family(name: str) -> Family:
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(f"no benchmark family {name!r}; known: {', '.join(f.name for f in FAMILIES)}")
