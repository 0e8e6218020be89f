"""Simulated-lab benchmark: a 100-point amplitude Rabi with 1024 repetitions, without pacing.

    .venv/bin/python -m bench.virtual_lab [--points 100] [--repetitions 1024]

Times the whole job as the daemon runs it on a simulated cluster (interpreter + physics +
readout sampling) and, separately, the compile; best of N runs. Issue 5's target: under 100 ms
of wall time for the job. Also times, with as many repetitions, an active reset (feedback: each
shot is projected and takes its branch) and a swept active reset: a Rabi sweep in a real-time
loop (``--points`` points) with a measurement, a conditional pi pulse and a second measurement
at every point, so one repetition holds ``--points`` feedback measurements of the qubit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.machine import describe
from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.virtual.lab import load_lab
from qconductor.adapters.virtual.physics import PropagatorCache
from qconductor.adapters.virtual.simulate import simulate
from qconductor.protocol.hardware import load_hardware_config
from qconductor.protocol.schedule import (
    Conditional,
    DragPulse,
    Idle,
    LoopBuilder,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
    ThresholdedAcquisition,
    TimedOperation,
    linspace,
)

DEFAULT_HARDWARE = Path(__file__).resolve().parents[1] / "config" / "hardware" / "default.json"


def rabi(points: int, repetitions: int) -> Schedule:
    s = Schedule(name="rabi", repetitions=repetitions, clocks={"q0.01": 80e6, "q0.ro": 150e6})
    for i, amplitude in enumerate(np.linspace(-0.9, 0.9, points)):
        s.add(Idle(duration=150_000))
        s.add(
            DragPulse(
                port="q0:mw", clock="q0.01", amplitude=float(amplitude), beta=0.5, duration=40
            )
        )
        ro = s.add(
            SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.25, duration=1000), delay=4
        )
        s.add(
            SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900, bin_index=i),
            ref=ro,
            ref_pt="start",
            delay=100,
        )
    return s


PI = DragPulse(port="q0:mw", clock="q0.01", amplitude=0.5, beta=0.0, duration=40)


def measure_and_reset(s: Schedule | LoopBuilder) -> None:
    """A measurement with feedback, a pi pulse if it found |1>, a measurement."""
    for channel in (0, 1):
        ro = s.add(
            SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.25, duration=1000), delay=20
        )
        acq = s.add(
            ThresholdedAcquisition(
                port="q0:res",
                clock="q0.ro",
                duration=900,
                rotation=26.565,  # the |1> response of r0 on resonance: 0.25 * (0.8 + 0.4j)
                threshold=0.112,
                acq_channel=channel,
                feedback_trigger_label="q0" if channel == 0 else None,
            ),
            ref=ro,
            ref_pt="start",
            delay=100,
        )
        if channel == 0:
            block = [TimedOperation(start=0, op=PI)]
            s.add(Conditional(trigger="q0", body=block), ref=acq, delay=400)


def active_reset(repetitions: int) -> Schedule:
    """A pi pulse, then :func:`measure_and_reset`."""
    s = Schedule(name="reset", repetitions=repetitions, clocks={"q0.01": 80e6, "q0.ro": 150e6})
    s.add(Idle(duration=150_000))
    s.add(PI)
    measure_and_reset(s)
    return s


def swept_reset(points: int, repetitions: int) -> Schedule:
    """A Rabi sweep in a real-time loop, every point followed by :func:`measure_and_reset`."""
    clocks = {"q0.01": 80e6, "q0.ro": 150e6}
    s = Schedule(name="swept-reset", repetitions=repetitions, clocks=clocks)
    s.add(Idle(duration=150_000))
    with s.loop(amp=linspace(0.0, 1.0, points)) as body:
        body.add(Idle(duration=1000))
        amplitude = body["amp"]
        body.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=amplitude, beta=0.0, duration=40))
        measure_and_reset(body)
    return s


def best(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--repetitions", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    hardware = load_hardware_config(DEFAULT_HARDWARE)
    lab = load_lab()
    schedule = rabi(args.points, args.repetitions)
    job = compile_schedule(schedule, hardware)
    cold = best(lambda: simulate(job, "cluster0", lab), 1)
    cache = PropagatorCache()
    simulate(job, "cluster0", lab, cache=cache)
    warm = best(lambda: simulate(job, "cluster0", lab, cache=cache), args.runs)
    compile_s = best(lambda: compile_schedule(schedule, hardware), args.runs)
    reset_job = compile_schedule(active_reset(args.repetitions), hardware)
    simulate(reset_job, "cluster0", lab, cache=cache)
    reset = best(lambda: simulate(reset_job, "cluster0", lab, cache=cache), args.runs)
    swept_job = compile_schedule(swept_reset(args.points, args.repetitions), hardware)
    swept_cold = best(lambda: simulate(swept_job, "cluster0", lab), 1)
    swept = best(lambda: simulate(swept_job, "cluster0", lab, cache=cache), args.runs)
    print(" · ".join(f"{k} {v}" for k, v in describe().items()))
    print(
        f"{args.points}-point Rabi x {args.repetitions} repetitions "
        f"({len(schedule.operations)} operations)"
    )
    print(
        f"  job in the simulated lab: {warm * 1e3:.1f} ms (pulse cache warm, best of "
        f"{args.runs}); {cold * 1e3:.1f} ms with an empty cache"
    )
    print(f"  compile:                  {compile_s * 1e3:.1f} ms")
    print(
        f"active reset x {args.repetitions} repetitions (feedback) in the simulated lab: "
        f"{reset * 1e3:.1f} ms (best of {args.runs})"
    )
    print(
        f"swept active reset, {args.points} points ({args.points} feedback measurements per "
        f"repetition) x {args.repetitions} repetitions: {swept * 1e3:.1f} ms "
        f"(best of {args.runs}); {swept_cold * 1e3:.1f} ms with an empty cache"
    )


if __name__ == "__main__":
    main()
