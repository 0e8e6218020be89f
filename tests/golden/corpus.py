"""The golden corpus: name -> (schedule builder, hardware config file under ``config/hardware``).

Each entry is compiled by ``test_golden.py`` and compared with ``expected/<name>.json``. To add
one, write a builder below (it names the schedule after its entry) and one line in
:data:`CORPUS`, then run ``make goldens`` and review the new file in the diff.

All entries so far use ``default.json``: a baseband QCM in slot 1 drives ``q0:mw`` (complex
output 0) and ``q1:mw`` (complex output 1); a baseband QRM in slot 2 reads ``q0:res`` and
``q1:res`` multiplexed on one output/input pair. The clocks below are the frequencies that
config's ``interm_freq`` entries fix.
"""

from __future__ import annotations

from collections.abc import Callable

from qconductor.protocol.schedule import (
    DragPulse,
    GaussPulse,
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
)

Builder = Callable[[], Schedule]

CLOCKS = {"q0.01": 80e6, "q1.01": -60e6, "q0.ro": 150e6, "q1.ro": 250e6}


def _new(name: str, repetitions: int = 1) -> Schedule:
    return Schedule(name=name, repetitions=repetitions, clocks=dict(CLOCKS))


def _x(qubit: int, amplitude: float = 0.4, phase: float = 0.0) -> DragPulse:
    """A 40 ns DRAG pulse on ``q<qubit>:mw``."""
    port, clock = f"q{qubit}:mw", f"q{qubit}.01"
    return DragPulse(
        port=port, clock=clock, amplitude=amplitude, phase=phase, beta=0.5, duration=40
    )


def _readout_pulse(qubit: int, amplitude: float = 0.25) -> SquarePulse:
    return SquarePulse(
        port=f"q{qubit}:res", clock=f"q{qubit}.ro", amplitude=amplitude, duration=1000
    )


def _integration(qubit: int, bin_index: int = 0) -> SSBIntegrationComplex:
    """A 900 ns integration on ``q<qubit>:res`` into acquisition channel ``qubit``."""
    port, clock = f"q{qubit}:res", f"q{qubit}.ro"
    return SSBIntegrationComplex(
        port=port, clock=clock, duration=900, acq_channel=qubit, bin_index=bin_index
    )


# --- the builders -------------------------------------------------------------------------------
def single_pulse() -> Schedule:
    """One square pulse at t = 0: the smallest program."""
    s = _new("single_pulse")
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=20))
    return s


def amplitude_sweep() -> Schedule:
    """Five Gaussians differing only in amplitude: one waveform pair, five gains."""
    s = _new("amplitude_sweep")
    for amplitude in (0.1, 0.3, -0.5, 0.7, 1.0):
        s.add(GaussPulse(port="q0:mw", clock="q0.01", amplitude=amplitude, duration=24), delay=100)
    return s


def drag_with_phase() -> Schedule:
    """DRAG pulses at 0, 90 and -45 degrees: the phase is in the waveforms, not the NCO."""
    s = _new("drag_with_phase")
    for phase in (0.0, 90.0, -45.0):
        s.add(_x(0, phase=phase), delay=20)
    return s


def two_qubit_drive() -> Schedule:
    """q0 and q1 driven at the same time on the two sequencers of one QCM, then staggered."""
    s = _new("two_qubit_drive")
    first = s.add(_x(0))
    s.add(_x(1, amplitude=0.3), ref=first, ref_pt="start")
    s.add(_x(0, amplitude=0.2), delay=8)
    s.add(_x(1, amplitude=0.6), delay=8)
    return s


def multiplexed_readout() -> Schedule:
    """q0 and q1 read out together: two sequencers of one QRM on one output/input pair."""
    s = _new("multiplexed_readout", repetitions=1000)
    for qubit in (0, 1):
        pulse = s.add(_readout_pulse(qubit, amplitude=0.2), at=0)
        s.add(_integration(qubit), ref=pulse, ref_pt="start", delay=100)
    return s


def acquisition_bins() -> Schedule:
    """A Rabi-style sweep: eight amplitudes, each read into its own bin of one channel."""
    s = _new("acquisition_bins", repetitions=256)
    for k in range(8):
        s.add(_x(0, amplitude=k / 8), delay=1000)
        pulse = s.add(_readout_pulse(0), delay=4)
        s.add(_integration(0, bin_index=k), ref=pulse, ref_pt="start", delay=100)
    return s


def long_idle() -> Schedule:
    """A T1-style gap of 200 us: waits longer than 65535 ns split into several ``wait``s."""
    s = _new("long_idle", repetitions=100)
    s.add(_x(0))
    s.add(Idle(duration=200_000))
    pulse = s.add(_readout_pulse(0))
    s.add(_integration(0), ref=pulse, ref_pt="start", delay=100)
    return s


def many_repetitions() -> Schedule:
    """A million repetitions: still one loop, one register."""
    s = _new("many_repetitions", repetitions=1_000_000)
    s.add(_x(0))
    pulse = s.add(_readout_pulse(0), delay=4)
    s.add(_integration(0), ref=pulse, ref_pt="start", delay=100)
    return s


def late_start() -> Schedule:
    """The first operation at t = 1500 ns: the preamble waits before it."""
    s = _new("late_start")
    s.add(GaussPulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=32), at=1500)
    pulse = s.add(_readout_pulse(0), delay=4)
    s.add(_integration(0), ref=pulse, ref_pt="start", delay=100)
    return s


def back_to_back() -> Schedule:
    """Pulses 4 ns apart (start to start): the shortest real-time spacing, gain changes between."""
    s = _new("back_to_back")
    for amplitude in (0.2, 0.4, 0.4, -0.4, 0.8):
        s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=amplitude, duration=4))
    s.add(GaussPulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=16))
    return s


# --- the registry: one line per entry -----------------------------------------------------------
CORPUS: dict[str, tuple[Builder, str]] = {
    "single_pulse": (single_pulse, "default.json"),
    "amplitude_sweep": (amplitude_sweep, "default.json"),
    "drag_with_phase": (drag_with_phase, "default.json"),
    "two_qubit_drive": (two_qubit_drive, "default.json"),
    "multiplexed_readout": (multiplexed_readout, "default.json"),
    "acquisition_bins": (acquisition_bins, "default.json"),
    "long_idle": (long_idle, "default.json"),
    "many_repetitions": (many_repetitions, "default.json"),
    "late_start": (late_start, "default.json"),
    "back_to_back": (back_to_back, "default.json"),
}
