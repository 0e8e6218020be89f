"""Rabi chevron through the daemon: two nested real-time loops, drive frequency x amplitude.

Start the daemon first (`make run`), then from a second terminal:

    .venv/bin/python examples/chevron.py [--address tcp://127.0.0.1:5710]

The outer loop steps q0's drive NCO frequency (``SetClockFrequency``), the inner one the
amplitude of a DRAG pulse; each inner iteration reads q0 out into its own bin, so the bins run
frequency-major (the outer loop varies slowest), as ``sweep_coords()`` says. It prints |S| as a
text heat map, one row per frequency: on the embedded default (the simulated lab, q0 at
80 MHz) the response is largest on resonance at the pi-pulse amplitude (about 0.5) and fades
with the detuning, faster for weak pulses: the chevron.
"""

from __future__ import annotations

import argparse

import numpy as np

from qconductor.protocol.client import DEFAULT_ADDRESS, Client
from qconductor.protocol.schedule import (
    DragPulse,
    Idle,
    Schedule,
    SetClockFrequency,
    SquarePulse,
    SSBIntegrationComplex,
    linspace,
)

DRIVE_IF = 80e6  # the clocks match config/hardware/default.json
READOUT_IF = 150e6
RELAX_NS = 150_000
SHADES = " .:-=+*#%@"  # weakest to strongest


def chevron_schedule(
    span_hz: float, frequencies: int, max_amplitude: float, amplitudes: int, repetitions: int
) -> Schedule:
    sched = Schedule(
        name="chevron", repetitions=repetitions, clocks={"q0.01": DRIVE_IF, "q0.ro": READOUT_IF}
    )
    detuned = linspace(DRIVE_IF - span_hz / 2, DRIVE_IF + span_hz / 2, frequencies)
    with (
        sched.loop(freq=detuned) as outer,
        outer.loop(amp=linspace(0.0, max_amplitude, amplitudes)) as inner,
    ):
        inner.add(SetClockFrequency(port="q0:mw", clock="q0.01", frequency=outer["freq"]))
        inner.add(
            DragPulse(port="q0:mw", clock="q0.01", amplitude=inner["amp"], beta=0.5, duration=40),
            delay=4,
        )
        readout = inner.add(
            SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.25, duration=1_000), delay=4
        )
        inner.add(
            SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900),
            ref=readout,
            ref_pt="start",
            delay=100,
        )
        inner.add(Idle(duration=RELAX_NS))
    return sched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=DEFAULT_ADDRESS)
    parser.add_argument("--frequencies", type=int, default=13, help="points of the outer loop")
    parser.add_argument("--amplitudes", type=int, default=21, help="points of the inner loop")
    parser.add_argument("--span", type=float, default=60e6, help="frequency span (Hz)")
    parser.add_argument("--max-amplitude", type=float, default=1.0)
    parser.add_argument("--repetitions", type=int, default=128)
    args = parser.parse_args()

    schedule = chevron_schedule(
        args.span, args.frequencies, args.max_amplitude, args.amplitudes, args.repetitions
    )
    with Client(args.address) as client:
        result = client.submit(schedule)
    print(f"job {result.job_id}: {result.state}")

    coords = result.acquisition_specs[0].sweep_coords()  # per bin, the outer loop slowest
    shape = (args.frequencies, args.amplitudes)
    freqs = coords["freq"].reshape(shape)[:, 0]
    amps = coords["amp"].reshape(shape)[0]
    magnitude = np.abs(result.acquisitions[0]).reshape(shape)
    top = float(np.nanmax(magnitude)) if np.isfinite(magnitude).any() else 0.0
    levels = np.zeros(shape, dtype=int)
    if top > 0:
        scaled = np.nan_to_num(magnitude / top) * (len(SHADES) - 1)
        levels = np.clip(np.rint(scaled), 0, len(SHADES) - 1).astype(int)

    print(f"|S| by drive frequency (rows) and amplitude (columns {amps[0]:.2f} .. {amps[-1]:.2f})")
    print(f"{'MHz':>8} |{'-' * (2 * len(amps))}|")
    for freq, row in zip(freqs, levels, strict=True):
        print(f"{freq / 1e6:8.2f} |{''.join(SHADES[k] * 2 for k in row)}|")
    print(f"shades {SHADES!r}: 0 .. {top:.4f}")
    if top > 0:
        i, j = np.unravel_index(int(np.nanargmax(magnitude)), shape)
        print(f"largest |S| at {freqs[i] / 1e6:.2f} MHz, amplitude {amps[j]:.3f}")


if __name__ == "__main__":
    main()
