"""Real-time sweep compile benchmark (issue 7's target: under 50 ms each).

    .venv/bin/python -m bench.sweeps [--quick]

Schedules, all with real-time loops (program size independent of the number of points):

* ``rabi-1d``: a 100000-point amplitude Rabi (DRAG drive, readout pulse, an integration per
  point: 100000 bins, within a sequencer's 131072);
* ``chevron-2d``: 1000 frequencies x 1000 amplitudes of a drive pulse with a readout pulse per
  point (no acquisition: 10^6 bins are beyond any sequencer's bin memory);
* ``chevron-2d-acq``: 300 x 300 of the same with an integration per point (90000 bins);
* ``t1-1d``: 100000 delays (4 ns … 400 µs) between a pulse and the readout.

Prints compile time (best and median) and the largest program's instruction count.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.machine import describe
from bench.measure import best_of, max_instructions
from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    Delay,
    DragPulse,
    Idle,
    LoopBuilder,
    Schedule,
    SetClockFrequency,
    SquarePulse,
    SSBIntegrationComplex,
    linspace,
)

HARDWARE = Path(__file__).resolve().parents[1] / "config" / "hardware" / "default.json"
CLOCKS = {"q0.01": 80e6, "q0.ro": 150e6}
MW = {"port": "q0:mw", "clock": "q0.01"}
RO = {"port": "q0:res", "clock": "q0.ro"}


def _readout(body: LoopBuilder, acquire: bool) -> None:
    ro = body.add(SquarePulse(**RO, amplitude=0.2, duration=1000), delay=20)
    if acquire:
        body.add(SSBIntegrationComplex(**RO, duration=900), ref=ro, ref_pt="start", delay=100)
    body.add(Idle(duration=1000))


def rabi_1d(points: int) -> Schedule:
    sched = Schedule(name="rabi-1d", repetitions=1024, clocks=CLOCKS)
    with sched.loop(amp=linspace(-0.9, 0.9, points)) as body:
        body.add(DragPulse(**MW, amplitude=body["amp"], beta=0.5, duration=40))
        _readout(body, acquire=True)
    return sched


def chevron_2d(outer: int, inner: int, acquire: bool) -> Schedule:
    sched = Schedule(name="chevron-2d", repetitions=100, clocks=CLOCKS)
    with (
        sched.loop(f=linspace(60e6, 100e6, outer)) as freqs,
        freqs.loop(amp=linspace(0.0, 0.9, inner)) as amps,
    ):
        amps.add(SetClockFrequency(**MW, frequency=freqs["f"]))
        amps.add(DragPulse(**MW, amplitude=amps["amp"], beta=0.5, duration=40))
        _readout(amps, acquire)
    return sched


def t1_1d(points: int) -> Schedule:
    sched = Schedule(name="t1-1d", repetitions=256, clocks=CLOCKS)
    with sched.loop(tau=linspace(4, 400_000, points)) as body:
        body.add(DragPulse(**MW, amplitude=0.5, beta=0.5, duration=40))
        body.add(Delay(length=body["tau"]))
        _readout(body, acquire=True)
    return sched


def cases(quick: bool) -> dict[str, Callable[[], Schedule]]:
    n, m = (1000, 100) if quick else (100_000, 1000)
    return {
        f"rabi-1d ({n} points)": lambda: rabi_1d(n),
        f"chevron-2d ({m} x {m})": lambda: chevron_2d(m, m, acquire=False),
        "chevron-2d-acq (300 x 300)": lambda: chevron_2d(300, 300, acquire=True),
        f"t1-1d ({n} delays)": lambda: t1_1d(n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sweeps, a smoke run")
    args = parser.parse_args()
    hardware: HardwareConfig = load_hardware_config(json.loads(HARDWARE.read_text()))
    print(json.dumps(describe(), indent=2))
    print(f"{'schedule':32} {'best ms':>9} {'median ms':>10} {'instructions':>13}")
    for name, build in cases(args.quick).items():
        schedule = build()
        job = compile_schedule(schedule, hardware)
        timing = best_of(partial(compile_schedule, schedule, hardware), budget_s=2.0)
        size, _ = max_instructions(job)
        print(f"{name:32} {timing.best_s * 1e3:9.2f} {timing.median_s * 1e3:10.2f} {size:13d}")


if __name__ == "__main__":
    main()
