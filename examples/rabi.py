"""Amplitude Rabi through the daemon: one schedule, one acquisition bin per amplitude.

Start the daemon first (`make run`), then from a second terminal:

    .venv/bin/python examples/rabi.py [--address tcp://127.0.0.1:5710] [--points 21]

Each point plays a DRAG pulse of a different amplitude on q0, then reads q0 out; the schedule
is repeated ``--repetitions`` times and each bin is averaged. On the embedded default (the
simulated lab, `config/labs/default.toml`) |S| traces the Rabi oscillation: the readout
resonator's response grows as the qubit is excited, most at the pi-pulse amplitude (about 0.5)
and least at 0 and 2 pi. Against the driver's dummy cluster (mode = "dummy") the values are NaN:
it executes nothing.
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
)

DRIVE_IF = 80e6  # the clocks match config/hardware/default.json
READOUT_IF = 150e6


def rabi_schedule(amplitudes: np.ndarray, repetitions: int) -> Schedule:
    sched = Schedule(
        name="amplitude_rabi",
        repetitions=repetitions,
        clocks={"q0.01": DRIVE_IF, "q0.ro": READOUT_IF},
    )
    for i, amplitude in enumerate(amplitudes):
        sched.add(Idle(duration=150_000))  # let the qubit relax: about 5 T1 in the default lab
        sched.add(
            DragPulse(
                port="q0:mw", clock="q0.01", amplitude=float(amplitude), beta=0.5, duration=40
            )
        )
        readout = sched.add(
            SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.25, duration=1_000), delay=4
        )
        sched.add(
            SSBIntegrationComplex(
                port="q0:res", clock="q0.ro", duration=900, acq_channel=0, bin_index=i
            ),
            ref=readout,
            ref_pt="start",
            delay=100,
        )
    return sched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=DEFAULT_ADDRESS)
    parser.add_argument("--points", type=int, default=21)
    parser.add_argument("--repetitions", type=int, default=256)
    args = parser.parse_args()

    amplitudes = np.linspace(-0.8, 0.8, args.points)
    schedule = rabi_schedule(amplitudes, args.repetitions)
    with Client(args.address) as client:
        job = client.compile(schedule)
        for seq in job.sequencers:
            print(
                f"{seq['cluster']}.module{seq['slot']}.sequencer{seq['sequencer']} "
                f"{seq['port']}-{seq['clock']}: {seq['instructions']} instructions, "
                f"{seq['waveform_samples']} waveform samples, {seq['bins']} bins"
            )
        client.arm(job.job_id)
        client.start(job.job_id)
        result = client.retrieve(job.job_id)
    print(f"job {result.job_id}: {result.state}")
    print(f"{'amplitude':>10}  {'I':>12}  {'Q':>12}  {'|S|':>10}")
    for amplitude, value in zip(amplitudes, result.acquisitions[0], strict=True):
        print(f"{amplitude:10.3f}  {value.real:12.6g}  {value.imag:12.6g}  {abs(value):10.5f}")


if __name__ == "__main__":
    main()
