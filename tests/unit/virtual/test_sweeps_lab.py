"""Real-time loops in the simulated lab: a swept job measures what its unrolled twin measures,
bins follow the loops, and the physics behind the sweeps (Rabi, T1) comes out right.

Default lab and hardware: q0 driven on resonance at 80 MHz (a 40 ns DRAG with beta 0 is a pi
pulse at amplitude 0.5), read by r0 on resonance at 150 MHz, where |0> transmits nothing and |1>
gives ``probe * S1`` (``S1 = 0.8 + 0.4j``): the averaged signal along ``S1`` is the excited
population times ``probe * |S1|``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.virtual.lab import Lab, load_lab
from qconductor.adapters.virtual.physics import resonator_response
from qconductor.adapters.virtual.simulate import simulate
from qconductor.protocol.compiled import CompiledJob
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
from qconductor.protocol.sweeps import FixedPointSweep, Linspace

ROOT = Path(__file__).resolve().parents[3]
MW = dict(port="q0:mw", clock="q0.01")
RO = dict(port="q0:res", clock="q0.ro")
CLOCKS = {"q0.01": 80e6, "q0.ro": 150e6}
PROBE = 0.25
RELAX = 200_000  # ns before each point, ~7 T1: the previous point's excitation relaxes
LAB = load_lab()
S1 = resonator_response(LAB.resonators["r0"], 150e6, excited=True)  # |0> gives 0 here
FloatArray = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(json.loads((ROOT / "config/hardware/default.json").read_text()))


def run(schedule: Schedule, hardware: HardwareConfig, lab: Lab = LAB) -> dict[int, FloatArray]:
    job = compile_schedule(schedule, hardware)
    return {k: np.asarray(v) for k, v in simulate(job, "cluster0", lab).items()}


def population(signal: npt.ArrayLike) -> FloatArray:
    """The excited population behind an averaged signal of r0 probed on resonance."""
    return np.asarray((np.asarray(signal) * np.conj(S1)).real / (PROBE * abs(S1) ** 2))


def readout(
    body: Schedule | LoopBuilder,
    bin_index: int = 0,
    bin_mode: Literal["average", "append"] = "average",
) -> None:
    ro = body.add(SquarePulse(**RO, amplitude=PROBE, duration=1000), delay=20)
    acq = SSBIntegrationComplex(**RO, duration=900, bin_index=bin_index, bin_mode=bin_mode)
    body.add(acq, ref=ro, ref_pt="start", delay=100)


AMPLITUDES = np.linspace(-0.9, 0.9, 19)


def swept_rabi(repetitions: int) -> Schedule:
    s = Schedule(name="rabi-swept", repetitions=repetitions, clocks=CLOCKS)
    with s.loop(amp=linspace(float(AMPLITUDES[0]), float(AMPLITUDES[-1]), len(AMPLITUDES))) as b:
        b.add(Idle(duration=RELAX))
        b.add(DragPulse(**MW, amplitude=b["amp"], beta=0.0, duration=40))
        readout(b)
    return s


def unrolled_rabi(amplitudes: FloatArray, repetitions: int) -> Schedule:
    s = Schedule(name="rabi-unrolled", repetitions=repetitions, clocks=CLOCKS)
    for i, amplitude in enumerate(amplitudes):
        s.add(Idle(duration=RELAX))
        s.add(DragPulse(**MW, amplitude=float(amplitude), beta=0.0, duration=40))
        readout(s, bin_index=i)
    return s


def test_a_swept_rabi_measures_what_the_unrolled_one_does(hardware: HardwareConfig) -> None:
    swept_job = compile_schedule(swept_rabi(1024), hardware)
    played = swept_job.acquisitions[0].sweep_coords()["amp"]  # the amplitudes really played
    swept = simulate(swept_job, "cluster0", LAB)[0]
    unrolled = run(unrolled_rabi(played, 1024), hardware)[0]
    assert swept.shape == (len(AMPLITUDES),)
    # the same pulses at the same times: the same populations, the same random draws
    np.testing.assert_allclose(swept, unrolled, atol=1e-12)
    # and a Rabi oscillation, sin^2(pi/2 * A / A_pi) with the pi pulse at 0.5 (1024 shots:
    # a standard error up to 0.018 in population)
    expected = np.sin(np.pi / 2 * played / 0.5) ** 2
    np.testing.assert_allclose(population(swept), expected, atol=0.06)


def test_a_delay_sweep_decays_with_the_labs_t1(hardware: HardwareConfig) -> None:
    taus = Linspace(start=4, stop=60_000, num=16)
    s = Schedule(name="t1", repetitions=2000, clocks=CLOCKS)
    with s.loop(tau=taus) as b:
        b.add(Idle(duration=RELAX))
        b.add(DragPulse(**MW, amplitude=0.5, beta=0.0, duration=40))
        b.add(Delay(length=b["tau"]))
        readout(b)
    data = run(s, hardware)[0]
    played = FixedPointSweep.of(taus, 1.0).units().astype(float)  # the delays really waited
    excited = population(data)
    # from the pi pulse's end to the acquisition: the delay, 20 ns, and 100 ns into the probe
    slope, intercept = np.polyfit((played + 120) * 1e-9, np.log(excited), 1)
    assert -1 / slope == pytest.approx(LAB.qubits["q0"].t1, rel=0.1)
    assert np.exp(intercept) == pytest.approx(1.0, abs=0.05)


def test_nested_loops_fill_the_bins_outer_major(hardware: HardwareConfig) -> None:
    freqs, amps = np.linspace(60e6, 100e6, 3), np.linspace(0.25, 0.5, 2)
    s = Schedule(name="chevron", repetitions=512, clocks=CLOCKS)
    with (
        s.loop(f=linspace(60e6, 100e6, 3)) as outer,
        outer.loop(amp=linspace(0.25, 0.5, 2)) as inner,
    ):
        inner.add(Idle(duration=RELAX))
        inner.add(SetClockFrequency(**MW, frequency=outer["f"]))
        inner.add(DragPulse(**MW, amplitude=inner["amp"], beta=0.0, duration=40))
        inner.add(SetClockFrequency(**MW, frequency=80e6), delay=4)
        readout(inner)
    job = compile_schedule(s, hardware)
    coords = job.acquisitions[0].sweep_coords()
    swept = simulate(job, "cluster0", LAB)[0]
    u = Schedule(name="chevron-unrolled", repetitions=512, clocks=CLOCKS)
    for i, (f, a) in enumerate(zip(coords["f"], coords["amp"], strict=True)):
        u.add(Idle(duration=RELAX))
        u.add(SetClockFrequency(**MW, frequency=float(f)))
        u.add(DragPulse(**MW, amplitude=float(a), beta=0.0, duration=40))
        u.add(SetClockFrequency(**MW, frequency=80e6), delay=4)
        readout(u, bin_index=i)
    unrolled = run(u, hardware)[0]
    np.testing.assert_allclose(coords["f"], np.repeat(freqs, 2))
    np.testing.assert_allclose(coords["amp"], np.tile(amps, 3), atol=1e-4)
    np.testing.assert_allclose(population(swept), population(unrolled), atol=0.03)
    grid = population(swept).reshape(3, 2)
    assert grid[1, 1] > 0.9  # on resonance, a pi pulse
    assert grid[1, 0] == pytest.approx(0.5, abs=0.08)  # a pi/2
    assert grid[0, 1] < 0.4  # 20 MHz off: far from a flip
    assert grid[2, 1] < 0.4


def test_a_folded_inner_loop_is_not_taken_for_the_repetitions(hardware: HardwareConfig) -> None:
    """A count loop whose iterations are copies folds inside the folded repetition loop; the
    lab still takes every repetition as a shot and every iteration as a bin."""
    s = Schedule(name="repeat", repetitions=300, clocks=CLOCKS)
    s.add(DragPulse(**MW, amplitude=0.5, beta=0.0, duration=40))
    with s.loop(count=4) as b:
        readout(b, bin_mode="append")
        b.add(Idle(duration=RELAX))
    job = compile_schedule(s, hardware)
    data = simulate(job, "cluster0", LAB)[0]
    assert data.shape == (300, 4)  # shots x bins
    excited = population(data.mean(axis=0))
    # measured 1.1, 3.2, 5.2 and 7.3 us after the pi pulse: T1 decay
    gaps = 120 + np.arange(4) * (20 + 1000 + RELAX)
    np.testing.assert_allclose(excited, np.exp(-gaps * 1e-9 / LAB.qubits["q0"].t1), atol=0.06)


def test_average_mode_keeps_every_repetition(hardware: HardwareConfig) -> None:
    """The shots are the job's repetitions (the first one included)."""
    s = Schedule(name="shots", repetitions=7, clocks=CLOCKS)
    s.add(DragPulse(**MW, amplitude=0.5, beta=0.0, duration=40))
    readout(s, bin_mode="append")
    job: CompiledJob = compile_schedule(s, hardware)
    assert simulate(job, "cluster0", LAB)[0].shape == (7, 1)
