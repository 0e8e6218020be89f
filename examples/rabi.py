"""Amplitude Rabi through the daemon: a real-time loop sweeps the drive amplitude.

Start the daemon first (`make run`), then from a second terminal:

    .venv/bin/python examples/rabi.py [--address tcp://127.0.0.1:5710] [--points 21]

One loop iteration per amplitude: a DRAG pulse on q0 whose amplitude the sequencer steps in a
register, a readout of q0 and a relaxation wait; one acquisition bin per point, averaged over
``--repetitions``. The program's size does not depend on ``--points``. The amplitudes come back
with the result as the loop's coordinates (``sweep_coords()["amp"]``): the values played,
rounded to the hardware's gain step. On the embedded default (the simulated lab,
`config/labs/default.toml`) |S| traces the Rabi oscillation: the readout resonator's response
grows as the qubit is excited, most at the pi-pulse amplitude (about 0.5) and least at 0 and
2 pi. Against the driver's dummy cluster (mode = "dummy") the values are NaN: it executes
nothing.
"""

from __future__ import annotations

import argparse

import numpy as np

from qconductor.protocol.client import DEFAULT_ADDRESS, Client
from qconductor.protocol.schedule import (
    DragPulse,
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
    linspace,
)

DRIVE_IF = 80e6  # the clocks match config/hardware/default.json
READOUT_IF = 150e6
RELAX_NS = 150_000  # about 5 T1 in the default lab: each point starts from the ground state


def rabi_schedule(start: float, stop: float, points: int, repetitions: int) -> Schedule:
    sched = Schedule(
        name="amplitude_rabi",
        repetitions=repetitions,
        clocks={"q0.01": DRIVE_IF, "q0.ro": READOUT_IF},
    )
    with sched.loop(amp=linspace(start, stop, points)) as body:
        body.add(
            DragPulse(port="q0:mw", clock="q0.01", amplitude=body["amp"], beta=0.5, duration=40)
        )
        readout = body.add(
            SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.25, duration=1_000), delay=4
        )
        body.add(
            SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900, acq_channel=0),
            ref=readout,
            ref_pt="start",
            delay=100,
        )  # one bin per iteration
        body.add(Idle(duration=RELAX_NS))
    return sched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=DEFAULT_ADDRESS)
    parser.add_argument("--points", type=int, default=21)
    parser.add_argument("--repetitions", type=int, default=256)
    parser.add_argument("--start", type=float, default=-0.8, help="first amplitude")
    parser.add_argument("--stop", type=float, default=0.8, help="last amplitude")
    args = parser.parse_args()

    schedule = rabi_schedule(args.start, args.stop, args.points, args.repetitions)
    with Client(args.address) as client:
        result = client.submit(schedule)  # queued, compiled, armed, started, read out
    for seq in result.sequencers:
        print(
            f"{seq['cluster']}.module{seq['slot']}.sequencer{seq['sequencer']} "
            f"{seq['port']}-{seq['clock']}: {seq['instructions']} instructions, "
            f"{seq['waveform_samples']} waveform samples, {seq['bins']} bins"
        )
    print(f"job {result.job_id}: {result.state}")

    amplitudes = result.acquisition_specs[0].sweep_coords()["amp"]  # as played, per bin
    magnitudes = np.abs(result.acquisitions[0])
    peak = float(np.nanmax(magnitudes)) if np.isfinite(magnitudes).any() else 0.0
    print(f"{'amplitude':>10}  {'I':>12}  {'Q':>12}  {'|S|':>10}")
    for amplitude, value in zip(amplitudes, result.acquisitions[0], strict=True):
        bar = "#" * round(30 * abs(value) / peak) if peak > 0 and np.isfinite(value) else ""
        print(
            f"{amplitude:10.5f}  {value.real:12.6g}  {value.imag:12.6g}  {abs(value):10.5f}  {bar}"
        )
    if peak > 0:
        best = int(np.nanargmax(magnitudes))
        print(f"largest |S| (the point closest to a pi pulse) at amplitude {amplitudes[best]:.4f}")


if __name__ == "__main__":
    main()
