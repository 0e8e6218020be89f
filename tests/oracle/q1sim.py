"""Run Qblox sequences in q1simulator and return what came out, as plain numpy arrays.

A test helper for oracle tests: every call builds a fresh simulator (q1simulator keeps state
between runs), starts the given sequencers together and waits for them with a deadline.

Conventions measured on q1simulator 1.3.4 (see ``test_q1sim_harness.py``):

* Time: sample ``k`` of every array is ``k`` ns after the end of the sequencer's first
  ``wait_sync`` (q1simulator renders nothing before it; a program without one has no output).
  Sequencers that ``wait_sync`` together share that origin.
* Units: volts. A waveform sample ``w`` at unit gain gives about ``w * full_scale_v``
  (QCM 2.5 V, QRM 0.5 V), truncated to 16 bits; gain/offset instructions act before the NCO.
* NCO (``mod_en_awg``): with path values ``(i, q)`` the outputs are
  ``I = (i cos(phi) - q sin(phi)) / sqrt(2)`` and ``Q = (i sin(phi) + q cos(phi)) / sqrt(2)``,
  ``phi = 2 pi f (t - t_reset) + phase``: a real envelope on path 0 gives ``Q = +A sin``, and
  modulation scales the amplitude by ``1/sqrt(2)``.
* Markers: one 0/1 array per marker bit (bit ``n`` = digital output ``n`` on QCM/QRM); the
  module's marker outputs are the OR over sequencers.
* Acquisitions: q1simulator's bin values are timestamps or mock data, not measurements, so the
  run returns each acquisition's integration window; integrate ``outputs`` over it yourself.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
import time
import types
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from qconductor.adapters.qblox.q1asm import parse_program

ModuleType = Literal["QCM", "QRM"]
Route = Literal["I", "Q", "off"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int8]

NUM_OUTPUTS: Final[Mapping[ModuleType, int]] = {"QCM": 4, "QRM": 2}
FULL_SCALE_V: Final[Mapping[ModuleType, float]] = {"QCM": 2.5, "QRM": 0.5}
_NUM_SEQUENCERS: Final = 6
_ABORT_GRACE_S: Final = 2.0


@dataclass(frozen=True)
class SeqSpec:
    """One sequencer to run: its sequence dict and the settings q1simulator honours."""

    index: int
    sequence: Mapping[str, Any]  # waveforms, weights, acquisitions, program
    nco_freq: float = 0.0  # Hz
    mod_en_awg: bool = False
    demod_en_acq: bool = False
    connect_out: Mapping[int, Route] = field(default_factory=lambda: {0: "I", 1: "Q"})
    sync_en: bool = True
    gain_awg_path: tuple[float, float] = (1.0, 1.0)
    offset_awg_path: tuple[float, float] = (0.0, 0.0)
    mixer_corr_gain_ratio: float = 1.0
    mixer_corr_phase_offset_degree: float = 0.0
    integration_length_acq: int | None = None  # ns; QRM only


@dataclass(frozen=True)
class ModuleRun:
    """What one run produced; see the module docstring for time origin and units."""

    outputs: dict[int, FloatArray]  # module output -> volts per ns (sum of routed paths)
    paths: dict[int, dict[int, FloatArray]]  # sequencer -> path (0 = I, 1 = Q) -> volts
    markers: dict[int, dict[int, IntArray]]  # sequencer -> marker bit -> 0/1 per ns
    marker_outputs: dict[int, IntArray]  # marker bit -> OR over sequencers
    acq_windows: dict[int, list[tuple[int, int]]]  # sequencer -> [(start, stop) ns]
    acquisitions: dict[int, dict[str, Any]]  # sequencer -> q1simulator's get_acquisitions
    end_times: dict[int, int]  # sequencer -> ns after sync when it stopped
    errors: list[str]  # what q1simulator flagged or raised, "seq<i>: ..."
    log: str  # q1simulator's printed and logged output
    full_scale_v: float


def run_module(
    module_type: ModuleType,
    seqs: Sequence[SeqSpec],
    *,
    max_render_time_ns: int = 2_000_000,
    timeout_s: float = 20.0,
    isa_version: tuple[int, int] | None = None,
) -> ModuleRun:
    """Upload ``seqs`` to a fresh simulated module, run them together, collect the outputs.

    Raises ``ValueError`` for a malformed request and ``TimeoutError`` when the sequencers do
    not finish within ``timeout_s`` seconds (they are aborted first). ``isa_version`` None lets
    q1simulator choose (2.0 with qblox-instruments >= 1.2).
    """
    _check_request(module_type, seqs)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), _capture_logs() as records:
        sim = _new_simulator(module_type, isa_version)
        sim.config("max_render_time", max_render_time_ns)
        sim.config("skip_loops", ())  # q1simulator skips jumps to "_start" by default
        errors = _upload(sim, module_type, seqs)
        ran = not errors
        if ran:
            _run(sim, seqs, timeout_s)
            errors = _flags(sim, seqs) + [_describe(r) for r in records if r.exc_info]
        errors += _missing_sync(seqs)
        run = _collect(sim, module_type, seqs if ran else (), max_render_time_ns)
    log = out.getvalue() + "".join(f"{r.levelname}: {r.getMessage()}\n" for r in records)
    return ModuleRun(**run, errors=errors, log=log, full_scale_v=FULL_SCALE_V[module_type])


def _check_request(module_type: ModuleType, seqs: Sequence[SeqSpec]) -> None:
    if module_type not in NUM_OUTPUTS:
        raise ValueError(f"module_type must be QCM or QRM, not {module_type!r}")
    indices = [s.index for s in seqs]
    if len(set(indices)) != len(indices) or not all(0 <= i < _NUM_SEQUENCERS for i in indices):
        raise ValueError(f"sequencer indices must be distinct and in 0..5, got {indices}")
    for spec in seqs:
        bad = [n for n in spec.connect_out if not 0 <= n < NUM_OUTPUTS[module_type]]
        if bad:
            raise ValueError(f"sequencer {spec.index}: {module_type} has no output(s) {bad}")


def _simulator_class() -> Any:
    """q1simulator's Q1Simulator. Importing q1simulator 1.3.4 imports its Qt GUI, which fails
    without a Qt binding; the GUI is not needed here, so a stub stands in for it then."""
    try:
        import q1simulator
    except ImportError:
        stub = types.ModuleType("q1simulator.gui.program_browser")
        stub.Q1ProgramBrowser = None  # type: ignore[attr-defined]
        sys.modules["q1simulator.gui.program_browser"] = stub
        import q1simulator
    return q1simulator.Q1Simulator


def _new_simulator(module_type: ModuleType, isa_version: tuple[int, int] | None) -> Any:
    name = f"q1sim_{uuid.uuid4().hex[:12]}"
    return _simulator_class()(
        name, n_sequencers=_NUM_SEQUENCERS, sim_type=module_type, isa_version=isa_version
    )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _capture_logs() -> Iterator[list[logging.LogRecord]]:
    handler = _Collect()
    logger = logging.getLogger("q1simulator")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def _describe(record: logging.LogRecord) -> str:
    exc = record.exc_info[1] if record.exc_info else None
    return f"{record.getMessage()}: {exc!r}"


def _upload(sim: Any, module_type: ModuleType, seqs: Sequence[SeqSpec]) -> list[str]:
    errors: list[str] = []
    for spec in seqs:
        seq = sim.sequencers[spec.index]
        try:
            _configure(seq, module_type, spec)
            seq.sequence(dict(spec.sequence))
        except Exception as exc:  # q1simulator raises bare Exceptions for bad programs
            errors.append(f"seq{spec.index}: upload rejected: {exc!r}")
    return errors


def _configure(seq: Any, module_type: ModuleType, spec: SeqSpec) -> None:
    seq.sync_en(spec.sync_en)
    seq.nco_freq(spec.nco_freq)
    seq.mod_en_awg(spec.mod_en_awg)
    seq.mixer_corr_gain_ratio(spec.mixer_corr_gain_ratio)
    seq.mixer_corr_phase_offset_degree(spec.mixer_corr_phase_offset_degree)
    for path in (0, 1):
        seq.parameters[f"gain_awg_path{path}"](spec.gain_awg_path[path])
        seq.parameters[f"offset_awg_path{path}"](spec.offset_awg_path[path])
    for out in range(NUM_OUTPUTS[module_type]):
        seq.parameters[f"connect_out{out}"](spec.connect_out.get(out, "off"))
    if module_type == "QRM":
        seq.demod_en_acq(spec.demod_en_acq)
        if spec.integration_length_acq is not None:
            seq.integration_length_acq(spec.integration_length_acq)


def _run(sim: Any, seqs: Sequence[SeqSpec], timeout_s: float) -> None:
    """Start every sequencer at once and wait for all of them, aborting at the deadline."""
    for spec in seqs:
        sim.arm_sequencer(spec.index)
    before = set(threading.enumerate())
    sim.start_sequencer()
    workers = [t for t in threading.enumerate() if t not in before]
    deadline = time.monotonic() + timeout_s
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    stuck = [w.name for w in workers if w.is_alive()]
    if stuck:
        for spec in seqs:
            sim.sequencers[spec.index].abort()
        sim._scheduler.event_distributor.abort()  # wakes threads blocked in wait_sync
        for worker in workers:
            worker.join(_ABORT_GRACE_S)
        raise TimeoutError(
            f"q1simulator did not finish within {timeout_s} s ({', '.join(stuck)} still "
            "running): a sequencer waiting in wait_sync for a peer that never gets there?"
        )


def _flags(sim: Any, seqs: Sequence[SeqSpec]) -> list[str]:
    found: list[str] = []
    for spec in seqs:
        seq = sim.sequencers[spec.index]
        flags = set(seq.q1core.errors) | set(seq.rt_renderer.errors)
        found += [f"seq{spec.index}: {flag}" for flag in sorted(flags)]
    return found


def _missing_sync(seqs: Sequence[SeqSpec]) -> list[str]:
    program_of = {s.index: str(s.sequence.get("program", "")) for s in seqs}
    return [
        f"seq{index}: no wait_sync, so q1simulator rendered nothing"
        for index, program in program_of.items()
        if not any(i.mnemonic == "wait_sync" for i in parse_program(program).instructions)
    ]


def _collect(
    sim: Any, module_type: ModuleType, seqs: Sequence[SeqSpec], max_ns: int
) -> dict[str, Any]:
    """Outputs of the sequencers in ``seqs`` (none when the upload failed)."""
    paths: dict[int, dict[int, FloatArray]] = {}
    markers: dict[int, dict[int, IntArray]] = {}
    windows: dict[int, list[tuple[int, int]]] = {}
    acquisitions: dict[int, dict[str, Any]] = {}
    end_times: dict[int, int] = {}
    for spec in seqs:
        seq = sim.sequencers[spec.index]
        rendered = seq.get_output()
        renderer = seq.rt_renderer  # its clock counts from start; outputs from the sync
        end_times[spec.index] = min(int(renderer.time - renderer.t_sync), max_ns)
        paths[spec.index] = {
            p: np.asarray(rendered[label].data, dtype=np.float64)
            for p, label in enumerate("IQ")
            if label in rendered
        }
        markers[spec.index] = _marker_arrays(rendered)
        windows[spec.index] = [
            (int(t[0]) + 1, int(t[-1])) for t, _, _ in seq.get_acquisition_windows()
        ]
        if module_type == "QRM":
            with np.errstate(divide="ignore", invalid="ignore"):  # empty bins: 0 / 0
                acquisitions[spec.index] = dict(seq.get_acquisitions(as_numpy=True))
    return {
        "outputs": _route(module_type, seqs, paths),
        "paths": paths,
        "markers": markers,
        "marker_outputs": _or_markers(markers),
        "acq_windows": windows,
        "acquisitions": acquisitions,
        "end_times": end_times,
    }


def _marker_arrays(rendered: Mapping[str, Any]) -> dict[int, IntArray]:
    """q1simulator gives marker steps as time-ordered [t, level] points (two per step, old
    level then new); a sample takes the level of the last point at or before it."""
    found: dict[int, IntArray] = {}
    for bit in range(4):
        output = rendered.get(f"M{bit + 1}")
        if output is None:
            continue
        times = np.array([int(t) for t, _ in output.points])
        levels = np.array([int(bool(level)) for _, level in output.points], dtype=np.int8)
        last = np.searchsorted(times, np.arange(int(output.t_max)), side="right") - 1
        found[bit] = levels[last]
    return found


def _pad_sum(arrays: Sequence[npt.NDArray[Any]], length: int, dtype: type) -> npt.NDArray[Any]:
    total: npt.NDArray[Any] = np.zeros(length, dtype=dtype)
    for array in arrays:
        total[: len(array)] += array
    return total


def _route(
    module_type: ModuleType, seqs: Sequence[SeqSpec], paths: dict[int, dict[int, FloatArray]]
) -> dict[int, FloatArray]:
    length = max((len(a) for by_path in paths.values() for a in by_path.values()), default=0)
    routed: dict[int, list[FloatArray]] = {n: [] for n in range(NUM_OUTPUTS[module_type])}
    for spec in seqs:
        for out, route in spec.connect_out.items():
            path = {"I": 0, "Q": 1}.get(route)
            if path is not None and path in paths.get(spec.index, {}):
                routed[out].append(paths[spec.index][path])
    return {out: _pad_sum(arrays, length, np.float64) for out, arrays in routed.items()}


def _or_markers(markers: dict[int, dict[int, IntArray]]) -> dict[int, IntArray]:
    by_bit: dict[int, list[IntArray]] = {}
    for per_seq in markers.values():
        for bit, samples in per_seq.items():
            by_bit.setdefault(bit, []).append(samples)
    length = max((len(a) for arrays in by_bit.values() for a in arrays), default=0)
    return {bit: np.minimum(_pad_sum(arrays, length, np.int8), 1) for bit, arrays in by_bit.items()}
