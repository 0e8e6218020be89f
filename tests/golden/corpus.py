"""The golden corpus: name -> (schedule builder, hardware config file under ``config/hardware``).

Each entry is compiled by ``test_golden.py`` and compared with ``expected/<name>.json``. To add
one, write a builder below (it names the schedule after its entry) and one line in
:data:`CORPUS`, then run ``make goldens`` and review the new file in the diff.

Entries use ``default.json``: a baseband QCM in slot 1 drives ``q0:mw`` (complex
output 0) and ``q1:mw`` (complex output 1); a baseband QRM in slot 2 reads ``q0:res`` and
``q1:res`` multiplexed on one output/input pair; the QCM's digital_output_0 is ``q0:trig``.
The clocks below are the frequencies that config's ``interm_freq`` entries fix.
"""

from __future__ import annotations

from collections.abc import Callable

from qconductor.protocol.schedule import (
    ChirpPulse,
    Conditional,
    Delay,
    DragPulse,
    GaussPulse,
    Idle,
    MarkerPulse,
    NumericalPulse,
    RampPulse,
    ResetClockPhase,
    Schedule,
    SetClockFrequency,
    ShiftClockPhase,
    SoftSquarePulse,
    SquarePulse,
    SSBIntegrationComplex,
    StaircasePulse,
    ThresholdedAcquisition,
    TimedOperation,
    Trace,
    TriggerCount,
    VoltageOffset,
    WeightedIntegration,
    linspace,
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
def long_square() -> Schedule:
    """A 30 µs square pulse: played from the offset registers, no waveform memory."""
    s = _new("long_square", repetitions=2)
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.3, phase=45, duration=30_000))
    return s


def ramp_and_staircase() -> Schedule:
    """A short ramp (one waveform), a long offset ramp (stitched) and a staircase (offsets)."""
    s = _new("ramp_and_staircase")
    kw = {"port": "q0:mw", "clock": "q0.01"}
    s.add(RampPulse(amplitude=0.5, duration=200, **kw))
    s.add(RampPulse(amplitude=-0.4, offset=0.2, duration=3_500, **kw), delay=100)
    s.add(
        StaircasePulse(start_amplitude=0.0, final_amplitude=0.6, num_steps=6, duration=600, **kw),
        delay=100,
    )
    return s


def pulse_shapes() -> Schedule:
    """Soft square, chirp and numerical pulses."""
    s = _new("pulse_shapes")
    kw = {"port": "q1:mw", "clock": "q1.01"}
    s.add(SoftSquarePulse(amplitude=0.5, duration=200, rise_time=40, **kw))
    s.add(ChirpPulse(amplitude=0.3, duration=400, start_freq=-10e6, end_freq=10e6, **kw), delay=20)
    s.add(
        NumericalPulse(
            samples_i=[0.0, 0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25],
            samples_q=[0.0, 0.1, 0.0, -0.1, 0.0, 0.1, 0.0, -0.1],
            amplitude=0.8,
            duration=8,
            **kw,
        ),
        delay=20,
    )
    return s


def voltage_offsets() -> Schedule:
    """A DC offset held under a pulse, then cleared; reset at each repetition."""
    s = _new("voltage_offsets", repetitions=4)
    kw = {"port": "q0:mw", "clock": "q0.01"}
    s.add(VoltageOffset(offset_i=0.1, offset_q=-0.05, **kw), at=0)
    s.add(_x(0), at=100)
    s.add(VoltageOffset(offset_i=0.0, offset_q=0.0, **kw), at=500)
    return s


def marker_trigger() -> Schedule:
    """A trigger on digital_output_0 around a readout."""
    s = _new("marker_trigger")
    s.add(MarkerPulse(port="q0:trig", duration=1200), at=0)
    ro = s.add(_readout_pulse(0), at=100)
    s.add(_integration(0), ref=ro, ref_pt="start", delay=100)
    return s


def virtual_z() -> Schedule:
    """Phase shifts (virtual Z), a frequency change and a phase reset between pulses."""
    s = _new("virtual_z", repetitions=3)
    kw = {"port": "q0:mw", "clock": "q0.01"}
    s.add(_x(0))
    s.add(ShiftClockPhase(phase_shift=90, **kw), delay=8)
    s.add(_x(0))
    s.add(SetClockFrequency(frequency=85e6, **kw), delay=8)
    s.add(_x(0))
    s.add(ResetClockPhase(**kw), delay=8)
    s.add(_x(0))
    return s


def single_shot_append() -> Schedule:
    """Append mode: one bin per shot and repetition, with coordinates."""
    s = _new("single_shot_append", repetitions=100)
    for k, amplitude in enumerate((0.0, 0.4)):
        s.add(_x(0, amplitude=amplitude), delay=0 if k == 0 else 2000)
        ro = s.add(_readout_pulse(0), delay=4)
        s.add(
            SSBIntegrationComplex(
                port="q0:res",
                clock="q0.ro",
                duration=900,
                bin_index=k,
                bin_mode="append",
                coords={"amplitude": amplitude},
            ),
            ref=ro,
            ref_pt="start",
            delay=100,
        )
    return s


def weighted_integration() -> Schedule:
    """Weighted integration, separated on q0 and summed on q1."""
    s = _new("weighted_integration", repetitions=10)
    ramp = [k / 99 for k in range(100)]
    flat = [0.5] * 100
    for qubit, summed in ((0, False), (1, True)):
        ro = s.add(_readout_pulse(qubit), at=qubit * 2000)
        s.add(
            WeightedIntegration(
                port=f"q{qubit}:res",
                clock=f"q{qubit}.ro",
                duration=100,
                weights_i=ramp,
                weights_q=flat,
                summed=summed,
                acq_channel=qubit,
            ),
            ref=ro,
            ref_pt="start",
            delay=100,
        )
    return s


def thresholded_readout() -> Schedule:
    """Single-shot discrimination: rotation and threshold on the sequencer, append mode."""
    s = _new("thresholded_readout", repetitions=50)
    s.add(_x(0))
    ro = s.add(_readout_pulse(0), delay=4)
    s.add(
        ThresholdedAcquisition(
            port="q0:res",
            clock="q0.ro",
            duration=900,
            rotation=37.5,
            threshold=0.012,
            bin_mode="append",
        ),
        ref=ro,
        ref_pt="start",
        delay=100,
    )
    return s


def trace_acquisition() -> Schedule:
    """A 2 µs scope trace opened 4 ns before the readout pulse (one sequencer cannot start
    both in the same nanosecond), averaged over repetitions."""
    s = _new("trace_acquisition", repetitions=64)
    trace = s.add(Trace(port="q0:res", clock="q0.ro", duration=2000))
    s.add(_readout_pulse(0), ref=trace, ref_pt="start", delay=4)
    return s


TRANSMON_CLOCKS = {
    "q0.01": 5.0e9,
    "q0.ro": 7.3e9,
    "q1.01": 5.1e9,
    "q1.ro": 7.6e9,
    "cl0.baseband": 0.0,
}


def rf_transmon() -> Schedule:
    """Every module kind of the transmon config: a drive through an IQ mixer with an external
    LO, mixer and latency corrections, a QCM-RF drive, a QRM-RF readout, a real flux output
    and a switch marker."""
    s = Schedule(name="rf_transmon", repetitions=5, clocks=dict(TRANSMON_CLOCKS))
    s.add(MarkerPulse(port="q0:switch", duration=200), at=0)
    s.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=0.3, beta=0.5, duration=40), at=20)
    s.add(DragPulse(port="q1:mw", clock="q1.01", amplitude=0.5, beta=0.5, duration=40), at=20)
    s.add(SquarePulse(port="q0:fl", clock="cl0.baseband", amplitude=0.2, duration=100), at=80)
    ro = s.add(SquarePulse(port="q1:res", clock="q1.ro", amplitude=0.3, duration=1000), at=200)
    s.add(
        SSBIntegrationComplex(port="q1:res", clock="q1.ro", duration=800, acq_channel=1),
        ref=ro,
        ref_pt="start",
        delay=120,
    )
    return s


def trigger_count() -> Schedule:
    """Photon/trigger counting on a baseband QRM input, one count per repetition."""
    s = Schedule(name="trigger_count", repetitions=20, clocks=dict(TRANSMON_CLOCKS))
    s.add(TriggerCount(port="q0:res", clock="q0.ro", duration=5000, bin_mode="append"))
    return s


def rabi_loop() -> Schedule:
    """A 101-point amplitude Rabi as a real-time loop: register gain, one bin per point."""
    s = _new("rabi_loop", repetitions=256)
    with s.loop(amp=linspace(-0.9, 0.9, 101)) as body:
        body.add(_x(0, amplitude=0.0).model_copy(update={"amplitude": body["amp"]}))
        ro = body.add(_readout_pulse(0), delay=4)
        body.add(_integration(0), ref=ro, ref_pt="start", delay=100)
        body.add(Idle(duration=20_000))
    return s


def chevron_2d() -> Schedule:
    """Frequency (outer) x phase and amplitude (inner) on two qubits, nested loops."""
    s = _new("chevron_2d", repetitions=64)
    with (
        s.loop(f=linspace(70e6, 90e6, 21)) as outer,
        outer.loop(amp=linspace(0.0, 0.8, 11), ph=linspace(0.0, 180.0, 11)) as inner,
    ):
        inner.add(SetClockFrequency(port="q0:mw", clock="q0.01", frequency=outer["f"]))
        inner.add(ShiftClockPhase(port="q1:mw", clock="q1.01", phase_shift=inner["ph"]))
        inner.add(_x(0, amplitude=0.0).model_copy(update={"amplitude": inner["amp"]}))
        inner.add(_x(1), ref=None, delay=4)
        ro = inner.add(_readout_pulse(0), delay=4)
        inner.add(_integration(0), ref=ro, ref_pt="start", delay=100)
        inner.add(Idle(duration=10_000))
    return s


def t1_delay() -> Schedule:
    """T1 with a swept delay from 4 ns to 200 µs (register waits, chunked beyond 65535 ns)."""
    s = _new("t1_delay", repetitions=128)
    with s.loop(tau=linspace(4, 200_000, 51)) as body:
        body.add(_x(0, amplitude=0.8))
        body.add(Delay(length=body["tau"]))
        ro = body.add(_readout_pulse(0))
        body.add(_integration(0), ref=ro, ref_pt="start", delay=100)
        body.add(Idle(duration=200_000))
    return s


def active_reset() -> Schedule:
    """Measure with feedback, flip the qubit back when it was found excited, measure again."""
    s = _new("active_reset", repetitions=100)
    s.add(_x(0, amplitude=0.4))
    ro = s.add(_readout_pulse(0), delay=4)
    acq = s.add(
        ThresholdedAcquisition(
            port="q0:res",
            clock="q0.ro",
            duration=900,
            threshold=0.01,
            bin_mode="append",
            feedback_trigger_label="q0",
        ),
        ref=ro,
        ref_pt="start",
        delay=100,
    )
    s.add(
        Conditional(trigger="q0", body=[TimedOperation(start=0, op=_x(0, amplitude=0.8))]),
        ref=acq,
        delay=400,
    )
    ro2 = s.add(_readout_pulse(0), delay=4)
    s.add(
        SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=900, acq_channel=1),
        ref=ro2,
        ref_pt="start",
        delay=100,
    )
    return s


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
    "long_square": (long_square, "default.json"),
    "ramp_and_staircase": (ramp_and_staircase, "default.json"),
    "pulse_shapes": (pulse_shapes, "default.json"),
    "voltage_offsets": (voltage_offsets, "default.json"),
    "marker_trigger": (marker_trigger, "default.json"),
    "virtual_z": (virtual_z, "default.json"),
    "single_shot_append": (single_shot_append, "default.json"),
    "weighted_integration": (weighted_integration, "default.json"),
    "thresholded_readout": (thresholded_readout, "default.json"),
    "trace_acquisition": (trace_acquisition, "default.json"),
    "rf_transmon": (rf_transmon, "transmon_full.json"),
    "trigger_count": (trigger_count, "transmon_full.json"),
    "rabi_loop": (rabi_loop, "default.json"),
    "chevron_2d": (chevron_2d, "default.json"),
    "t1_delay": (t1_delay, "default.json"),
    "active_reset": (active_reset, "default.json"),
}
