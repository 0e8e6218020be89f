"""Oracle: real-time loops and sweeps, executed by q1simulator, play what the schedule says.

Each case compiles a schedule with loops (1-D amplitude, frequency and delay sweeps; 2-D sweeps
of frequency or phase around amplitude, and of frequency around a delay), runs the drive module
(QCM, slot 1) and the readout
module (QRM, slot 2) in q1simulator, and compares them with the reference model
(``compiled.expected_iq``) of the same schedule unrolled (``unroll.unroll``) with the requested
values, sample by sample. Beside that, every pulse is measured on its own (its amplitude, carrier
frequency or phase, its position) and every acquisition window and bin is checked.

Tolerances. Per sample the same few LSB as the other oracle tests (16-bit waveforms, gain and
output quantisation). The played values are the requested ones rounded to the hardware unit
(``qconductor.protocol.sweeps``: at most 0.53 unit): for a gain 0.53/32767 of full scale, far
inside the per-sample tolerance; for the NCO 0.25 Hz, whose phase error over the few
microseconds of a case is below 1e-4 rad; delays are whole nanoseconds, and the requested
delays are chosen away from half a nanosecond so rounding them is unambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.compiler.emit import PREAMBLE_NS
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.protocol.compiled import AcquisitionSpec, CompiledJob
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.operations import BinMode
from qconductor.protocol.schedule import (
    PULSE_TYPES,
    Delay,
    DragPulse,
    Idle,
    Linspace,
    Loop,
    LoopBuilder,
    Schedule,
    SetClockFrequency,
    ShiftClockPhase,
    SquarePulse,
    SSBIntegrationComplex,
    TimedOperation,
    Var,
    linspace,
)
from tests.oracle.compiled import expected_iq, module_of, run_compiled
from tests.oracle.q1sim import FULL_SCALE_V, ModuleRun, ModuleType
from tests.oracle.unroll import delay_ns, unroll

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "hardware" / "default.json"
CLOCKS = {"q0.01": 80e6, "q1.01": -60e6, "q0.ro": 150e6}  # the IFs of default.json
MW: dict[str, Any] = {"port": "q0:mw", "clock": "q0.01"}
MW1: dict[str, Any] = {"port": "q1:mw", "clock": "q1.01"}  # QCM complex_output_1
RO: dict[str, Any] = {"port": "q0:res", "clock": "q0.ro"}
DRIVE, READOUT = 1, 2  # slots
INSTRUCTION_LIMIT = {DRIVE: 16384, READOUT: 12288}
ATOL_FRACTION = 4 / 32768  # per sample, fraction of full scale (as the other oracle tests)
# a pulse's fitted amplitude: the 0.53-unit rounding of the played gain plus q1simulator's own
# rendering, measured at up to 3.6 units for |amplitude| 0.8 (pulses outside loops alike)
AMPLITUDE_ATOL = 6 / 32767
FREQUENCY_ATOL_HZ = 1e3  # a carrier estimated over one pulse: output quantisation noise
PHASE_ATOL_RAD = 2e-3
TIME_ATOL_NS = 1e-6  # q1simulator's bin values are acquisition times in ms (float64)

FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]

pytestmark = pytest.mark.timeout(120)


# --- the schedules --------------------------------------------------------------------------


def readout(body: LoopBuilder, bin_mode: BinMode = "average", amplitude: float | Var = 0.2) -> None:
    """A readout pulse 20 ns after what was added last, its acquisition, 100 ns to spare."""
    ro = body.add(SquarePulse(**RO, amplitude=amplitude, duration=400), delay=20)
    body.add(
        SSBIntegrationComplex(**RO, duration=300, bin_mode=bin_mode),
        ref=ro,
        ref_pt="start",
        delay=60,
    )
    body.add(Idle(duration=100))


def amplitude_sweep(points: int = 21) -> Schedule:
    """Rabi: a DRAG pulse per point from -0.8 to 0.8, each measured; the readout's amplitude
    swept in lockstep (the readout sequencer steps a gain and a bin register)."""
    s = Schedule(name="rabi", repetitions=2, clocks=CLOCKS)
    with s.loop(amp=linspace(-0.8, 0.8, points), ro_amp=linspace(0.3, 0.1, points)) as body:
        body.add(DragPulse(**MW, amplitude=body["amp"], beta=0.5, duration=40))
        readout(body, amplitude=body["ro_amp"])
    return s


FREQUENCIES = (60e6, 100e6)


def frequency_sweep(points: int = 11) -> Schedule:
    """Spectroscopy: a pulse at the clock's frequency, then one per point of the NCO sweep;
    the next repetition starts at the clock's frequency again."""
    s = Schedule(name="spectroscopy", repetitions=2, clocks=CLOCKS)
    s.add(SquarePulse(**MW, amplitude=0.3, duration=100), at=0)
    with s.loop(delay=100, f=linspace(*FREQUENCIES, points)) as body:
        body.add(SetClockFrequency(**MW, frequency=body["f"]))
        body.add(SquarePulse(**MW, amplitude=0.3, duration=200))
        readout(body)
    return s


TAUS = (4.0, 150_000.0)  # from the shortest delay to beyond two waits of 65535 ns


def delay_sweep(points: int = 4) -> Schedule:
    """T1: pulse, delay, readout. With 4 points the delays are 4, 50002.67, 100001.33 and
    150000 ns: whole nanoseconds 4, 50003, 100001, 150000 (two of them longer than a wait).
    A last pulse 100 ns after the loop, which lasts as long as its delays make it."""
    s = Schedule(name="t1", repetitions=2, clocks=CLOCKS)
    with s.loop(tau=linspace(*TAUS, points)) as body:
        body.add(DragPulse(**MW, amplitude=0.5, beta=0.5, duration=40))
        body.add(Delay(length=body["tau"]))
        readout(body)
    s.add(SquarePulse(**MW, amplitude=0.2, duration=100), delay=100)
    return s


INNER_AMPLITUDES = (-0.5, 0.7)  # no point at 0: every pulse has a carrier to measure


CHEVRON_FREQUENCIES = (90e6, 70e6)  # descending: a negative step


def chevron(outer: int = 4, inner: int = 5) -> Schedule:
    """Outer NCO frequency (set in the outer body, before the inner loop), inner amplitude."""
    s = Schedule(name="chevron", repetitions=2, clocks=CLOCKS)
    with s.loop(f=linspace(*CHEVRON_FREQUENCIES, outer)) as body:
        body.add(SetClockFrequency(**MW, frequency=body["f"]), at=0)
        with body.loop(at=8, amp=linspace(*INNER_AMPLITUDES, inner)) as inner_body:
            inner_body.add(SquarePulse(**MW, amplitude=inner_body["amp"], duration=100))
            readout(inner_body)
    return s


def ramsey(outer: int = 3, inner: int = 4) -> Schedule:
    """Outer NCO frequency, inner delay between two pulses (the carrier runs on meanwhile), on
    the second drive output at negative frequencies."""
    s = Schedule(name="ramsey", repetitions=2, clocks=CLOCKS)
    with s.loop(f=linspace(-62e6, -58e6, outer)) as body:
        body.add(SetClockFrequency(**MW1, frequency=body["f"]), at=0)
        with body.loop(at=8, tau=linspace(20, 620, inner)) as inner_body:
            inner_body.add(DragPulse(**MW1, amplitude=0.4, beta=0.5, duration=40))
            inner_body.add(Delay(length=inner_body["tau"]))
            inner_body.add(DragPulse(**MW1, amplitude=0.4, beta=0.5, duration=40))
            readout(inner_body)
    return s


PHASES = (0.0, 270.0)


def phase_chevron(outer: int = 4, inner: int = 5) -> Schedule:
    """Outer phase shift (accumulating, in the outer body), inner amplitude; bins appended
    through the repetitions."""
    s = Schedule(name="phase_chevron", repetitions=2, clocks=CLOCKS)
    with s.loop(ph=linspace(*PHASES, outer)) as body:
        body.add(ShiftClockPhase(**MW, phase_shift=body["ph"]), at=0)
        with body.loop(at=8, amp=linspace(*INNER_AMPLITUDES, inner)) as inner_body:
            inner_body.add(SquarePulse(**MW, amplitude=inner_body["amp"], duration=100))
            readout(inner_body, bin_mode="append")
    return s


CASES: dict[str, Callable[[], Schedule]] = {
    "amplitude": amplitude_sweep,
    "frequency": frequency_sweep,
    "delay": delay_sweep,
    "chevron": chevron,
    "ramsey": ramsey,
    "phase_chevron": phase_chevron,
}


# --- running them ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Executed:
    schedule: Schedule
    flat: Schedule  # unrolled with the requested values
    job: CompiledJob
    runs: dict[int, ModuleRun]  # slot -> what q1simulator produced

    @property
    def rep_ns(self) -> int:
        return self.job.repetition_duration_ns

    @property
    def length(self) -> int:
        return self.rep_ns * self.job.repetitions

    def signal(self, slot: int, output: int = 0) -> ComplexArray:
        """The simulated complex output (I + jQ, volts) of complex_output_``output``."""
        outputs = self.runs[slot].outputs
        return outputs[2 * output] + 1j * outputs[2 * output + 1]


def execute(schedule: Schedule, hardware: HardwareConfig) -> Executed:
    job = compile_schedule(schedule, hardware)
    for slot, limit in INSTRUCTION_LIMIT.items():
        for seq in module_of(job, slot).sequencers:
            if seq.sequence is not None:
                assert validate_program(seq.sequence.program, max_instructions=limit) == []
    flat = unroll(schedule)
    assert flat.duration == schedule.duration  # the model's loop length, delays included
    runs = {}
    for slot in (DRIVE, READOUT):
        run = run_compiled(job, slot)
        assert run.errors == [], run.log
        runs[slot] = run
    assert job.repetitions * job.repetition_duration_ns <= 2_000_000  # all of it rendered
    return Executed(schedule, flat, job, runs)


class Runs:
    """Every case executed once per module, when a test first needs it."""

    def __init__(self, hardware: HardwareConfig) -> None:
        self.hardware = hardware
        self.cache: dict[str, Executed] = {}

    def __getitem__(self, name: str) -> Executed:
        if name not in self.cache:
            self.cache[name] = execute(CASES[name](), self.hardware)
        return self.cache[name]


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(DEFAULT)


@pytest.fixture(scope="module")
def runs(hardware: HardwareConfig) -> Runs:
    return Runs(hardware)


# --- measuring pulses -----------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """A pulse of the unrolled schedule in one repetition: samples ``start`` to ``stop``."""

    start: int
    stop: int
    in_repetition: int  # sample of ``start`` counted from its repetition's start
    amplitude: float
    kind: str


def placed_pulses(ex: Executed, port: str) -> list[Placed]:
    """Every pulse on ``port``, in time order, in every repetition (sample indices)."""
    found = []
    pulses = sorted(
        (t for t in ex.flat.operations if isinstance(t.op, PULSE_TYPES) and t.op.port == port),
        key=lambda t: t.start,
    )
    for rep in range(ex.job.repetitions):
        for timed in pulses:
            at = PREAMBLE_NS + timed.start
            amplitude = getattr(timed.op, "amplitude", 1.0)
            assert isinstance(amplitude, float)
            start = rep * ex.rep_ns + at
            found.append(Placed(start, start + timed.op.duration, at, amplitude, timed.op.kind))
    return found


def fitted_amplitudes(
    measured: ComplexArray, unit: ComplexArray, pulses: list[Placed]
) -> FloatArray:
    """Each pulse's amplitude: the least-squares factor of the unit-amplitude reference."""
    fits = []
    for p in pulses:
        u, z = unit[p.start : p.stop], measured[p.start : p.stop]
        fits.append(np.vdot(u, z).real / np.vdot(u, u).real)
    return np.asarray(fits)


def carrier_hz(z: ComplexArray) -> float:
    """The mean frequency of a constant-envelope complex signal sampled every ns."""
    return float(np.mean(np.angle(z[1:] * np.conj(z[:-1]))) / (2 * np.pi) * 1e9)


def carrier_phase(z: ComplexArray, first_sample: int, freq: float) -> float:
    """The phase of ``z`` against a carrier at ``freq`` that was at phase 0 at sample 0."""
    k = first_sample + np.arange(len(z))
    return float(np.angle(np.sum(z * np.exp(-2j * np.pi * freq * k * 1e-9))))


def onsets(z: ComplexArray, threshold: float) -> list[int]:
    """Samples where ``|z|`` rises above ``threshold``."""
    on = np.abs(z) > threshold
    rising = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    return ([0] if on[0] else []) + [int(k) for k in rising]


def requested(schedule: Schedule) -> dict[str, FloatArray]:
    """Every sweep variable's requested values, by name (loops at any depth)."""
    found: dict[str, FloatArray] = {}

    def walk(operations: list[TimedOperation]) -> None:
        for timed in operations:
            if isinstance(timed.op, Loop):
                found.update({n: d.values() for n, d in timed.op.sweeps.items()})
                walk(timed.op.body)

    walk(schedule.operations)
    return found


def acquisition_spec(job: CompiledJob) -> AcquisitionSpec:
    (spec,) = job.acquisitions
    return spec


def rounding(ex: Executed, name: str) -> float:
    """The documented bound on |played - requested| of ``name``: 0.53 hardware units."""
    (sweep,) = [a.played[name] for a in acquisition_spec(ex.job).sweeps if name in a.played]
    return 0.53 / abs(sweep.scale)


# --- every case, sample by sample -----------------------------------------------------------


def compare(measured: ComplexArray, expected: ComplexArray, full_scale: float) -> None:
    atol = ATOL_FRACTION * full_scale
    n = len(expected)
    np.testing.assert_allclose(measured[:n].real, expected.real, atol=atol, rtol=0)
    np.testing.assert_allclose(measured[:n].imag, expected.imag, atol=atol, rtol=0)
    assert np.abs(measured[n:]).max(initial=0) <= atol  # silence after the last repetition


@pytest.mark.parametrize("case", list(CASES))
def test_every_sample_matches_the_unrolled_schedule(runs: Runs, case: str) -> None:
    ex = runs[case]
    outputs: list[tuple[int, ModuleType, int, list[str]]] = [
        (DRIVE, "QCM", 0, ["q0:mw"]),
        (DRIVE, "QCM", 1, ["q1:mw"]),
        (READOUT, "QRM", 0, ["q0:res", "q1:res"]),
    ]
    silent = 0
    for slot, module, output, ports in outputs:
        expected = sum(
            (expected_iq(ex.flat, port, module, ex.length, ex.rep_ns) for port in ports),
            np.zeros(ex.length, dtype=np.complex128),
        )
        silent += not np.any(expected)
        compare(ex.signal(slot, output), expected, FULL_SCALE_V[module])
    assert silent == 1  # one drive output unused: the others are not vacuous comparisons


# --- every point's value --------------------------------------------------------------------


def swept_amplitudes(ex: Executed, name: str) -> tuple[FloatArray, FloatArray]:
    """(fitted, requested) amplitude of every drive pulse, in time order."""
    pulses = placed_pulses(ex, "q0:mw")
    points = len(requested(ex.schedule)[name])
    unit_flat = unroll(ex.schedule, {name: np.ones(points)})
    unit = expected_iq(unit_flat, "q0:mw", "QCM", ex.length, ex.rep_ns)
    nominal = np.array([p.amplitude for p in pulses])
    return fitted_amplitudes(ex.signal(DRIVE), unit, pulses), nominal


def test_every_point_of_an_amplitude_sweep_plays_its_amplitude(runs: Runs) -> None:
    ex = runs["amplitude"]
    fitted, expected = swept_amplitudes(ex, "amp")
    amplitudes = np.linspace(-0.8, 0.8, 21)
    np.testing.assert_array_equal(expected, np.tile(amplitudes, 2))  # two repetitions
    np.testing.assert_allclose(fitted, expected, atol=AMPLITUDE_ATOL, rtol=0)
    # the values reported with the results are the played ones: the requested, rounded
    reported = acquisition_spec(ex.job).sweep_coords()["amp"]
    np.testing.assert_allclose(reported, amplitudes, atol=rounding(ex, "amp"), rtol=0)
    np.testing.assert_allclose(fitted[:21], reported, atol=AMPLITUDE_ATOL, rtol=0)


def test_every_point_of_a_frequency_sweep_plays_its_frequency(runs: Runs) -> None:
    ex = runs["frequency"]
    z = ex.signal(DRIVE)
    measured = [carrier_hz(z[p.start : p.stop]) for p in placed_pulses(ex, "q0:mw")]
    one_repetition = [CLOCKS["q0.01"], *np.linspace(*FREQUENCIES, 11)]
    np.testing.assert_allclose(measured, one_repetition * 2, atol=FREQUENCY_ATOL_HZ, rtol=0)
    reported = acquisition_spec(ex.job).sweep_coords()["f"]
    np.testing.assert_allclose(reported, np.linspace(*FREQUENCIES, 11), atol=0.25, rtol=0)


def test_every_point_of_a_delay_sweep_waits_its_delay(runs: Runs) -> None:
    ex = runs["delay"]
    taus = [delay_ns(t) for t in np.linspace(*TAUS, 4)]
    assert taus == [4, 50_003, 100_001, 150_000]
    pulses = placed_pulses(ex, "q0:mw")
    # each drive pulse where the reference has it: its energy centroid to a tenth of a ns
    z, unit = ex.signal(DRIVE), expected_iq(ex.flat, "q0:mw", "QCM", ex.length, ex.rep_ns)
    for p in pulses:
        k = np.arange(p.start - 8, min(p.stop + 8, ex.length))
        w, wu = np.abs(z[k]) ** 2, np.abs(unit[k]) ** 2
        assert np.sum(k * w) / np.sum(w) == pytest.approx(np.sum(k * wu) / np.sum(wu), abs=0.1)
    # each readout starts 40 ns (the pulse) + 20 ns + the delay after its drive pulse starts
    level = 0.5 * 0.2 * FULL_SCALE_V["QRM"] / np.sqrt(2)
    readouts = onsets(ex.signal(READOUT), level)
    drive = [p for p in pulses if p.kind == "drag"]
    assert len(readouts) == len(drive) == 8
    gaps = [r - d.start for r, d in zip(readouts, drive, strict=True)]
    assert gaps == [40 + 20 + tau for tau in taus] * 2
    reported = acquisition_spec(ex.job).sweep_coords()["tau"]
    np.testing.assert_array_equal(reported, taus)
    # the delay is a register wait, paid out in chunks (a jump back) beyond one wait's range
    (seq,) = [q for q in module_of(ex.job, DRIVE).sequencers if q.sequence is not None]
    assert seq.sequence is not None
    assert re.search(r"^(\S+:)?\s*wait R\d+$", seq.sequence.program, re.MULTILINE)
    assert "jmp @" in seq.sequence.program


def test_a_2d_frequency_sweep_plays_every_point_outer_major(runs: Runs) -> None:
    ex = runs["chevron"]
    pulses = placed_pulses(ex, "q0:mw")
    assert len(pulses) == 2 * 4 * 5
    z = ex.signal(DRIVE)
    freqs = np.repeat(np.linspace(*CHEVRON_FREQUENCIES, 4), 5)
    amps = np.tile(np.linspace(*INNER_AMPLITUDES, 5), 4)
    measured = [carrier_hz(z[p.start : p.stop]) for p in pulses]
    np.testing.assert_allclose(measured, np.tile(freqs, 2), atol=FREQUENCY_ATOL_HZ, rtol=0)
    fitted, expected = swept_amplitudes(ex, "amp")
    np.testing.assert_allclose(expected, np.tile(amps, 2))
    np.testing.assert_allclose(fitted, expected, atol=AMPLITUDE_ATOL, rtol=0)
    coords = acquisition_spec(ex.job).sweep_coords()
    np.testing.assert_allclose(coords["f"], freqs, atol=0.25, rtol=0)
    np.testing.assert_allclose(coords["amp"], amps, atol=rounding(ex, "amp"), rtol=0)


def test_a_2d_phase_sweep_accumulates_every_shift_outer_major(runs: Runs) -> None:
    ex = runs["phase_chevron"]
    pulses = placed_pulses(ex, "q0:mw")
    z = ex.signal(DRIVE)
    shifts = np.linspace(*PHASES, 4)
    amps = np.tile(np.linspace(*INNER_AMPLITUDES, 5), 4)
    # the phase of each pulse against the clock's carrier from the repetition's start (reset):
    # the shifts so far, plus half a turn for a negative amplitude
    expected = np.deg2rad(np.repeat(np.cumsum(shifts), 5)) + np.pi * (amps < 0)
    measured = [
        carrier_phase(z[p.start : p.stop], p.in_repetition, CLOCKS["q0.01"]) for p in pulses
    ]
    error = np.angle(np.exp(1j * (np.array(measured) - np.tile(expected, 2))))
    np.testing.assert_allclose(error, 0.0, atol=PHASE_ATOL_RAD)
    fitted, nominal = swept_amplitudes(ex, "amp")
    np.testing.assert_allclose(fitted, nominal, atol=AMPLITUDE_ATOL, rtol=0)
    coords = acquisition_spec(ex.job).sweep_coords()
    np.testing.assert_allclose(coords["ph"], np.repeat(shifts, 5), atol=1e-6, rtol=0)


# --- acquisitions ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_acquisitions_open_on_time_one_bin_per_point(runs: Runs, case: str) -> None:
    """Every window where the unrolled schedule has it, in every repetition; bin ``k`` of a
    repetition written by point ``k``'s acquisition (outer loops slowest).

    q1simulator stores an acquisition's start time (ms, from its own clock, which runs ahead of
    the sync by an unknown ``t0``) as its value, and a bin's value is the mean of what it
    received. Every bin receives as many acquisitions as its bin mode says, so the bins hold
    a permutation of the acquisitions; if every bin's value minus its point's expected time is
    one constant, summing over the bins makes that constant ``t0``, so each bin holds its own
    point's time: bin index = point index."""
    ex = runs[case]
    spec = acquisition_spec(ex.job)
    acquisitions = sorted(
        (t for t in ex.flat.operations if isinstance(t.op, SSBIntegrationComplex)),
        key=lambda t: t.start,
    )
    points = len(acquisitions)
    assert spec.num_bins == points
    assert all(len(v) == points for v in spec.sweep_coords().values())
    reps = ex.job.repetitions
    starts = [PREAMBLE_NS + t.start for t in acquisitions]
    windows = [(r * ex.rep_ns + a, r * ex.rep_ns + a + 300) for r in range(reps) for a in starts]
    assert ex.runs[READOUT].acq_windows[spec.sequencer] == windows

    bins = ex.runs[READOUT].acquisitions[spec.sequencer][spec.acq_name]["acquisition"]["bins"]
    times = np.asarray(bins["integration"]["path0"]) * 1e6
    if spec.bin_mode == "average":
        np.testing.assert_array_equal(bins["avg_cnt"], [reps] * points)
        expected = np.array(starts) + ex.rep_ns * (reps - 1) / 2  # the mean over repetitions
    else:
        np.testing.assert_array_equal(bins["avg_cnt"], [1] * points * reps)
        expected = np.array([a for a, _ in windows], dtype=np.float64)
    t0 = times - expected
    np.testing.assert_allclose(t0, t0[0], atol=TIME_ATOL_NS, rtol=0)
    assert t0[0] >= 0


# --- program size ---------------------------------------------------------------------------

SIZES: list[tuple[str, Callable[[], Schedule], Callable[[], Schedule]]] = [
    ("amplitude", lambda: amplitude_sweep(5), lambda: amplitude_sweep(500)),
    ("frequency", lambda: frequency_sweep(5), lambda: frequency_sweep(500)),
    ("delay", lambda: delay_sweep(5), lambda: delay_sweep(500)),
    ("chevron", lambda: chevron(5, 5), lambda: chevron(500, 200)),
    ("ramsey", lambda: ramsey(5, 5), lambda: ramsey(200, 500)),
    ("phase_chevron", lambda: phase_chevron(5, 5), lambda: phase_chevron(50, 500)),
]


@pytest.mark.parametrize(("case", "small", "large"), SIZES, ids=[s[0] for s in SIZES])
def test_program_size_does_not_depend_on_the_points(
    hardware: HardwareConfig,
    case: str,
    small: Callable[[], Schedule],
    large: Callable[[], Schedule],
) -> None:
    """The same instructions for 5 points as for 500: only immediates differ."""
    programs = []
    for build in (small, large):
        job = compile_schedule(build(), hardware)
        found = {}
        for slot in (DRIVE, READOUT):
            for seq in module_of(job, slot).sequencers:
                if seq.sequence is not None:
                    assert seq.stats is not None
                    masked = re.sub(r"\d+", "N", seq.sequence.program)
                    found[(slot, seq.index)] = (seq.stats.instructions, masked)
        programs.append(found)
    assert len(programs[0]) == 2  # a drive and a readout sequencer
    assert programs[0] == programs[1], case


# --- the unrolling the reference relies on --------------------------------------------------


def test_unroll_places_every_iteration_by_hand() -> None:
    """Times worked out by hand from the model's rules: an iteration lasts its body plus its
    delays, a delay moves what starts at or after it, nested loops repeat within it."""
    s = Schedule(name="unroll", clocks=CLOCKS)
    s.add(SquarePulse(**MW, amplitude=0.1, duration=20), at=0)
    tau = Linspace(start=10, stop=20.4, num=2)
    with s.loop(delay=10, tau=tau, a=linspace(0.2, 0.4, 2)) as body:  # at 30
        body.add(SquarePulse(**MW, amplitude=body["a"], duration=40))  # 0 .. 40
        body.add(Delay(length=body["tau"]))  # at 40
        body.add(SquarePulse(**RO, amplitude=0.3, duration=40))  # 40 .. 80, moved by tau
        with body.loop(count=2, delay=8) as inner:  # 88 .. 112, moved by tau
            inner.add(SquarePulse(**MW, amplitude=body["a"], duration=12))
    s.add(SquarePulse(**MW, amplitude=0.5, duration=20), delay=4)  # the loop ends at 284
    flat = unroll(s)
    found = [(t.start, t.op.port, t.op.amplitude) for t in flat.operations]  # type: ignore[union-attr]
    assert found == [
        (0, "q0:mw", 0.1),
        (30, "q0:mw", 0.2),  # tau 10
        (80, "q0:res", 0.3),
        (128, "q0:mw", 0.2),
        (140, "q0:mw", 0.2),
        (152, "q0:mw", 0.4),  # 30 + 112 + 10; tau 20.4 plays 20 ns
        (212, "q0:res", 0.3),
        (260, "q0:mw", 0.4),
        (272, "q0:mw", 0.4),
        (288, "q0:mw", 0.5),
    ]
    assert flat.duration == s.duration == 308
    other = unroll(s, {"a": [0.6, -0.6]})
    assert [t.op.amplitude for t in other.operations][1:4] == [0.6, 0.3, 0.6]  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="2 points"):
        unroll(s, {"a": [0.6]})
