"""Real-time sweeps and active reset as a user runs them: the daemon as a real process on the
simulated lab (``config/labs/default.toml``), schedules submitted over ZeroMQ, and the
examples run as scripts against it.

Default lab: q0 driven on resonance at 80 MHz (a 40 ns DRAG pulse is a pi pulse at amplitude
0.5), T1 = 30 µs, read by r0 on resonance at 150 MHz, where |0> transmits nothing: |S| of an
averaged readout is proportional to the excited population.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest

from qconductor.adapters.virtual.lab import load_lab
from qconductor.adapters.virtual.physics import resonator_response
from qconductor.protocol.client import Client
from qconductor.protocol.schedule import (
    Conditional,
    DragPulse,
    Idle,
    LoopBuilder,
    Schedule,
    SetClockFrequency,
    SquarePulse,
    SSBIntegrationComplex,
    ThresholdedAcquisition,
    TimedOperation,
    linspace,
)
from tests.integration.daemon_process import ROOT, DaemonProcess, start_daemon, write_config

pytestmark = pytest.mark.timeout(120)

CLOCKS = {"q0.01": 80e6, "q1.01": -60e6, "q0.ro": 150e6, "q1.ro": 250e6}
LAB = load_lab()
PROBE = 0.25
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    tmp = tmp_path_factory.mktemp("sweeps")
    proc = start_daemon(write_config(tmp, mode="simulated"))
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def client(daemon: DaemonProcess) -> Iterator[Client]:
    with Client(daemon.address, timeout_s=30) as c:
        yield c


def readout(body: Schedule | LoopBuilder) -> None:
    """q0 read out 4 ns after the last operation: one SSB bin per loop iteration."""
    ro = body.add(
        SquarePulse(port="q0:res", clock="q0.ro", amplitude=PROBE, duration=1000), delay=4
    )
    body.add(
        SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900),
        ref=ro,
        ref_pt="start",
        delay=100,
    )


def rabi(points: int, repetitions: int) -> Schedule:
    s = Schedule(name="rabi-e2e", repetitions=repetitions, clocks=CLOCKS)
    with s.loop(amp=linspace(-0.8, 0.8, points)) as body:
        body.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=body["amp"], duration=40))
        readout(body)
        body.add(Idle(duration=150_000))  # 5 T1: each point starts from the ground state
    return s


def test_a_swept_rabi_returns_one_bin_per_point_with_its_coordinates(client: Client) -> None:
    points = 17
    requested = np.linspace(-0.8, 0.8, points)
    schedule = rabi(points, repetitions=128)
    result = client.submit(schedule)
    assert result.state == "done"
    data = result.acquisitions[0]
    assert data.shape == (points,)
    spec = result.acquisition_specs[0]
    assert spec.num_bins == points
    assert [axis.count for axis in spec.sweeps] == [points]

    # the coordinates are the gains the register plays: whole hardware units (the compiled
    # job's own description of the register), within half a unit of the request
    compiled = client.compile(schedule, include_program=True).compiled
    assert compiled is not None
    played = compiled.acquisitions[0].sweeps[0].played["amp"]
    amps = spec.sweep_coords()["amp"]
    assert amps.shape == (points,)
    np.testing.assert_array_equal(amps, played.values())
    units = amps * played.scale
    np.testing.assert_allclose(units, np.round(units), atol=1e-6)
    assert np.max(np.abs(amps - requested)) <= 0.5 / played.scale + 1e-12
    assert not np.array_equal(amps, requested)  # rounded to the hardware's step

    # the data oscillates: P(|1>) = sin^2(pi amp / 2 / 0.5), largest near +-0.5, least at 0
    magnitude = np.abs(data)
    population = np.sin(np.pi * amps) ** 2
    assert np.corrcoef(magnitude, population)[0, 1] > 0.97
    assert abs(abs(amps[int(np.argmax(magnitude))]) - 0.5) <= 0.1 + 1e-9
    assert magnitude[points // 2] < 0.1 * magnitude.max()  # amplitude 0: nothing excited
    assert magnitude.max() > 0.15  # about 0.25 |S1| = 0.22


def test_a_two_dimensional_sweep_runs_outer_major(client: Client) -> None:
    """Frequency (outer, 3 points) x amplitude (inner, 4): bin k is frequency k // 4 and
    amplitude k % 4, in the coordinates and in the data (largest on resonance, pi pulse)."""
    freqs, amps = np.linspace(40e6, 120e6, 3), np.linspace(0.0, 0.75, 4)
    s = Schedule(name="chevron-e2e", repetitions=64, clocks=CLOCKS)
    with (
        s.loop(freq=linspace(40e6, 120e6, 3)) as outer,
        outer.loop(amp=linspace(0.0, 0.75, 4)) as inner,
    ):
        inner.add(SetClockFrequency(port="q0:mw", clock="q0.01", frequency=outer["freq"]))
        inner.add(
            DragPulse(port="q0:mw", clock="q0.01", amplitude=inner["amp"], duration=40), delay=4
        )
        readout(inner)
        inner.add(Idle(duration=150_000))
    result = client.submit(s)
    spec = result.acquisition_specs[0]
    assert spec.num_bins == 12
    assert [axis.count for axis in spec.sweeps] == [3, 4]
    coords = spec.sweep_coords()
    np.testing.assert_allclose(coords["freq"], np.repeat(freqs, 4), atol=0.25)  # 0.25 Hz step
    np.testing.assert_allclose(coords["amp"], np.tile(amps, 3), atol=1 / 32000)
    magnitude = np.abs(result.acquisitions[0])
    assert magnitude.shape == (12,)
    grid = magnitude.reshape(3, 4)
    assert int(np.argmax(magnitude)) == 1 * 4 + 2  # 80 MHz (outer 1), amplitude 0.5 (inner 2)
    assert grid[[0, 2]].max() < 0.3 * grid[1, 2]  # 40 MHz off resonance: little excitation


def discriminator() -> ThresholdedAcquisition:
    """Decide halfway between |0> (no transmission on resonance) and |1> (PROBE * S1)."""
    s1 = resonator_response(LAB.resonators["r0"], 150e6, excited=True)
    return ThresholdedAcquisition(
        port="q0:res",
        clock="q0.ro",
        duration=900,
        rotation=math.degrees(math.atan2(s1.imag, s1.real)),
        threshold=PROBE * abs(s1) / 2,
    )


def active_reset(*, reset: bool) -> Schedule:
    """q0 excited, measured with feedback (channel 0), flipped back where it read 1 (or an
    idle as long), measured again (channel 1); average mode: the fraction of shots read 1."""
    decide = discriminator()
    s = Schedule(name="reset-e2e", repetitions=512, clocks=CLOCKS)
    s.add(Idle(duration=1000))
    pi = DragPulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=40)
    s.add(pi)
    ro = s.add(SquarePulse(port="q0:res", clock="q0.ro", amplitude=PROBE, duration=1000), delay=4)
    acq = decide.model_copy(update={"feedback_trigger_label": "q0"})
    first = s.add(acq, ref=ro, ref_pt="start", delay=100)
    if reset:
        s.add(
            Conditional(trigger="q0", body=[TimedOperation(start=0, op=pi)]), ref=first, delay=400
        )
    else:
        s.add(Idle(duration=40), ref=first, delay=400)
    ro2 = s.add(SquarePulse(port="q0:res", clock="q0.ro", amplitude=PROBE, duration=1000), delay=20)
    s.add(decide.model_copy(update={"acq_channel": 1}), ref=ro2, ref_pt="start", delay=100)
    return s


def test_active_reset_lowers_the_excited_fraction(client: Client) -> None:
    with_reset = client.submit(active_reset(reset=True))
    without = client.submit(active_reset(reset=False))
    assert with_reset.kinds == {0: "thresholded", 1: "thresholded"}
    before, after = float(with_reset.acquisitions[0][0]), float(with_reset.acquisitions[1][0])
    left = float(without.acquisitions[1][0])
    print(f"\nexcited before {before:.3f}, after the reset {after:.3f}, without it {left:.3f}")
    assert before > 0.85  # the pi pulse, read with ~4 % assignment error
    assert after < 0.2  # assignment errors and decay while deciding
    assert before - after > 0.7
    assert left > 0.8  # without the conditional pulse the qubit stays excited
    # the feedback readout is the same either way: the branch only follows it
    assert float(without.acquisitions[0][0]) == pytest.approx(before, abs=0.05)


# --- the examples, as a user runs them ---------------------------------------------------------


def run_example(daemon: DaemonProcess, name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--address", daemon.address, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    print(proc.stdout)
    return proc.stdout


def number_after(text: str, pattern: str) -> float:
    found = re.search(pattern + r"\s*(-?[0-9.]+)", text)
    assert found is not None, f"{pattern!r} not in:\n{text}"
    return float(found.group(1))


def test_rabi_example(daemon: DaemonProcess) -> None:
    out = run_example(daemon, "rabi.py", "--points", "11", "--repetitions", "64")
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s+-?\d+\.\d+\s", line)]
    assert len(rows) == 11  # one row per point: amplitude, I, Q, |S|
    amps = np.array([float(r[0]) for r in rows])
    np.testing.assert_allclose(amps, np.linspace(-0.8, 0.8, 11), atol=1e-4)
    assert abs(abs(number_after(out, r"at amplitude")) - 0.5) <= 0.08 + 1e-6


def test_t1_example(daemon: DaemonProcess) -> None:
    out = run_example(daemon, "t1.py", "--points", "8", "--repetitions", "128")
    t1 = number_after(out, r"fitted T1 =")
    assert t1 * 1e-6 == pytest.approx(LAB.qubits["q0"].t1, rel=0.25)


def test_chevron_example(daemon: DaemonProcess) -> None:
    out = run_example(
        daemon, "chevron.py", "--frequencies", "5", "--amplitudes", "6", "--repetitions", "32"
    )
    rows = [line for line in out.splitlines() if re.match(r"^\s+\d+\.\d+ \|", line)]
    assert [float(r.split("|")[0]) for r in rows] == [50.0, 65.0, 80.0, 95.0, 110.0]
    assert all(len(r.split("|")[1]) == 12 for r in rows)  # two characters per amplitude
    assert number_after(out, r"largest \|S\| at") == 80.0


def test_active_reset_example(daemon: DaemonProcess) -> None:
    out = run_example(daemon, "active_reset.py", "--repetitions", "256")
    line = next(line for line in out.splitlines() if line.startswith("with reset:"))
    before, after = number_after(line, "excited before"), number_after(line, "after")
    assert before > 0.85
    assert after < 0.25
    idle = next(line for line in out.splitlines() if line.startswith("without"))
    assert number_after(idle, "after") > 0.75
