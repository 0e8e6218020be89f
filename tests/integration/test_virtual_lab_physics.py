"""Physics sanity through the whole stack: schedules compiled, interpreted and measured in the
default simulated lab (q0: T1 = 30 µs, pi pulse ~0.5; r0 at 150 MHz, 2 MHz wide, pulled 2 MHz
down when q0 is excited)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.virtual.lab import load_lab
from qconductor.adapters.virtual.simulate import simulate
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    DragPulse,
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
)

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "hardware" / "default.json"
LAB = load_lab()


def _free_clocks() -> HardwareConfig:
    """The default wiring without modulation frequencies: the NCO follows any clock."""
    raw = json.loads(DEFAULT.read_text())
    raw["hardware_options"] = {}
    return load_hardware_config(raw)


def _readout(s: Schedule, bin_index: int, clock: str = "q0.ro") -> None:
    ro = s.add(SquarePulse(port="q0:res", clock=clock, amplitude=0.25, duration=1000), delay=4)
    s.add(
        SSBIntegrationComplex(port="q0:res", clock=clock, duration=900, bin_index=bin_index),
        ref=ro,
        ref_pt="start",
        delay=100,
    )


def test_t1_series_decays_with_the_configured_t1() -> None:
    delays = np.array([0, 5, 10, 20, 30, 45, 60, 90]) * 1000
    s = Schedule(name="t1", repetitions=2000, clocks={"q0.01": 80e6, "q0.ro": 150e6})
    for k, delay in enumerate(delays):
        s.add(Idle(duration=200_000))
        s.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=0.5, beta=0.5, duration=40))
        if delay:
            s.add(Idle(duration=int(delay)))
        _readout(s, k)
    data = simulate(compile_schedule(s, load_hardware_config(DEFAULT)), "cluster0", LAB)[0]
    signal = np.abs(data)  # r0 probed on resonance: the response is the excited population
    keep = signal > 3 * 0.002  # above the averaged noise floor
    slope, _ = np.polyfit(delays[keep] * 1e-9, np.log(signal[keep]), 1)
    assert -1 / slope == pytest.approx(LAB.qubits["q0"].t1, rel=0.1)


def test_spectroscopy_dip_sits_at_the_resonator() -> None:
    hardware = _free_clocks()
    frequencies = np.linspace(144e6, 156e6, 25)
    magnitudes = []
    for f in frequencies:
        s = Schedule(name="spec", repetitions=256, clocks={"probe": float(f)})
        _readout(s, 0, clock="probe")
        magnitudes.append(abs(simulate(compile_schedule(s, hardware), "cluster0", LAB)[0][0]))
    dip = frequencies[int(np.argmin(magnitudes))]
    assert dip == pytest.approx(LAB.resonators["r0"].frequency, abs=0.5e6)
    assert max(magnitudes) > 10 * min(magnitudes)
