"""T1 through the daemon: a real-time loop sweeps the wait between a pi pulse and the readout.

Start the daemon first (`make run`), then from a second terminal:

    .venv/bin/python examples/t1.py [--address tcp://127.0.0.1:5710] [--points 16]

One loop iteration per delay: a pi pulse on q0, a ``Delay`` as long as the swept variable
``tau`` (the sequencer waits for a register: the program does not grow with the points), a
readout of q0 and a relaxation wait; one acquisition bin per delay. Each point's signal is
projected on the first point's (the excited state's) and fitted with an exponential decay:
the fitted T1 is printed. On the embedded default (the simulated lab) q0 has T1 = 30 µs and the
readout resonator transmits nothing with the qubit in the ground state, so the signal is the
excited population.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import numpy.typing as npt

from qconductor.protocol.client import DEFAULT_ADDRESS, Client
from qconductor.protocol.schedule import (
    Delay,
    DragPulse,
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
    linspace,
)

DRIVE_IF = 80e6  # the clocks match config/hardware/default.json
READOUT_IF = 150e6
PI_AMPLITUDE = 0.5  # a 40 ns DRAG pulse in the default lab (examples/rabi.py finds it)
RELAX_NS = 200_000


def t1_schedule(max_delay_ns: int, points: int, repetitions: int) -> Schedule:
    sched = Schedule(
        name="t1", repetitions=repetitions, clocks={"q0.01": DRIVE_IF, "q0.ro": READOUT_IF}
    )
    with sched.loop(tau=linspace(4, max_delay_ns, points)) as body:
        body.add(
            DragPulse(port="q0:mw", clock="q0.01", amplitude=PI_AMPLITUDE, beta=0.5, duration=40)
        )
        body.add(Delay(length=body["tau"]))  # what follows moves later by tau ns
        readout = body.add(
            SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.25, duration=1_000), delay=4
        )
        body.add(
            SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900),
            ref=readout,
            ref_pt="start",
            delay=100,
        )
        body.add(Idle(duration=RELAX_NS))
    return sched


def fit_t1(delays_ns: npt.NDArray[np.float64], signal: npt.NDArray[np.float64]) -> float:
    """T1 in seconds from ``signal ~ A exp(-t / T1)``: a straight line through log(signal),
    weighted by the signal (its log's noise grows as it decays); points at or below zero
    (noise) are left out."""
    keep = signal > 0
    if keep.sum() < 2:
        return math.nan
    slope, _ = np.polyfit(delays_ns[keep] * 1e-9, np.log(signal[keep]), 1, w=signal[keep])
    return -1.0 / float(slope) if slope < 0 else math.inf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=DEFAULT_ADDRESS)
    parser.add_argument("--points", type=int, default=16)
    parser.add_argument("--repetitions", type=int, default=512)
    parser.add_argument("--max-delay", type=int, default=120_000, help="last delay (ns)")
    args = parser.parse_args()

    schedule = t1_schedule(args.max_delay, args.points, args.repetitions)
    with Client(args.address) as client:
        result = client.submit(schedule)
    print(f"job {result.job_id}: {result.state}")

    delays = result.acquisition_specs[0].sweep_coords()["tau"]  # ns, as played
    data = result.acquisitions[0]
    # the excited state's response is the first point's; project every point on it
    reference = data[0] / abs(data[0]) if abs(data[0]) > 0 else 1.0
    signal = np.asarray((data * np.conj(reference)).real, dtype=np.float64)
    top = float(signal[0]) if signal[0] > 0 else 1.0
    print(f"{'delay (us)':>10}  {'signal':>10}  {'relative':>8}")
    for delay, value in zip(delays, signal, strict=True):
        bar = "#" * max(0, round(40 * value / top)) if math.isfinite(value) else ""
        print(f"{delay / 1e3:10.3f}  {value:10.5f}  {value / top:8.3f}  {bar}")
    t1 = fit_t1(delays, signal)
    print(f"fitted T1 = {t1 * 1e6:.1f} us")


if __name__ == "__main__":
    main()
