"""Run the sequencers of several modules in ONE simulated cluster, with their trigger network.

``q1sim.run_module`` simulates one module. Conditional playback needs two: the readout module's
thresholded acquisition sends its result on the trigger network and a drive module's sequencer
plays under ``set_cond``. q1simulator 1.3.4's ``Cluster`` gives all its modules one
``EventDistributor``: one sync barrier (``wait_sync`` across modules) and one trigger network (a
trigger from any sequencer is delivered to every armed sequencer of the cluster, 250 ns after
the acquisition's end, into its latches). This module builds such a cluster, uploads, runs and
collects each module with the helpers of ``q1sim``, whose conventions hold here too; all
sequencers that ``wait_sync`` together, in any module, share the time origin.

What ``q1sim.SeqSpec`` does not carry is given per module:

* ``parameters``: further q1simulator sequencer parameters (qblox-instruments names), set after
  the ``SeqSpec``'s: ``thresholded_acq_threshold``, ``thresholded_acq_trigger_en``, ...
* ``mock_data``: per acquisition name, one value per ``acquire`` of that acquisition in the run,
  in order. q1simulator takes a value as the integrated sum the instrument would compare with
  ``thresholded_acq_threshold`` (real part: path 0, imaginary part: path 1), rotates it by
  ``thresholded_acq_rotation`` and thresholds it; a thresholded acquisition with trigger
  enabled sends that result (xor ``thresholded_acq_trigger_invert``). Running out of values is
  flagged as ``OUT OF MOCK DATA``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from qconductor.protocol.compiled import CompiledJob, SequencerSettings
from tests.oracle.compiled import module_of, seq_specs
from tests.oracle.q1sim import (
    _ABORT_GRACE_S,
    FULL_SCALE_V,
    ModuleRun,
    ModuleType,
    SeqSpec,
    _capture_logs,
    _check_request,
    _collect,
    _configure,
    _describe,
    _flags,
    _missing_sync,
    _simulator_class,
)

ParameterValue = bool | int | float | str

# the settings of a compiled sequencer that q1sim.SeqSpec leaves out and feedback needs
FEEDBACK_SETTINGS: Final = (
    "thresholded_acq_rotation",
    "thresholded_acq_threshold",
    "thresholded_acq_trigger_en",
    "thresholded_acq_trigger_address",
    "thresholded_acq_trigger_invert",
)
_SLOTS: Final = range(1, 21)


@dataclass(frozen=True)
class ModuleSpec:
    """One module of the cluster: slot, type, sequencers, and what ``SeqSpec`` lacks."""

    slot: int
    module_type: ModuleType
    seqs: Sequence[SeqSpec]
    # sequencer -> q1simulator parameter -> value, set after the SeqSpec's settings
    parameters: Mapping[int, Mapping[str, ParameterValue]] = field(default_factory=dict)
    # sequencer -> acquisition name -> one value per acquire in the run (the integrated sum)
    mock_data: Mapping[int, Mapping[str, Sequence[complex]]] = field(default_factory=dict)


def run_cluster(
    modules: Sequence[ModuleSpec],
    *,
    max_render_time_ns: int = 2_000_000,
    timeout_s: float = 20.0,
    isa_version: tuple[int, int] | None = None,
) -> dict[int, ModuleRun]:
    """Upload every module's sequencers to one fresh simulated cluster, start them together,
    wait for all, and collect each module's outputs: slot -> ``ModuleRun``.

    Nothing runs when any upload is rejected (a synced peer would wait for it forever); every
    module's ``errors`` then says why, or that another module's upload was rejected. Raises
    ``ValueError`` for a malformed request and ``TimeoutError`` when the sequencers do not
    finish within ``timeout_s`` seconds (they are aborted first). The ``log`` of every module
    is the whole cluster's.
    """
    _check_modules(modules)
    out = io.StringIO()
    runs: dict[int, dict[str, Any]] = {}
    errors: dict[int, list[str]] = {}
    with contextlib.redirect_stdout(out), _capture_logs() as records:
        cluster = _new_cluster(modules, isa_version)
        try:
            cluster.config("max_render_time", max_render_time_ns)
            cluster.config("skip_loops", ())  # q1simulator skips jumps to "_start" by default
            errors = {m.slot: _upload(_module(cluster, m.slot), m) for m in modules}
            rejected = [slot for slot, found in errors.items() if found]
            if rejected:
                for m in modules:
                    if m.slot not in rejected:
                        errors[m.slot].append(f"not run: an upload was rejected (slots {rejected})")
            else:
                _run(cluster, modules, timeout_s)
                raised = [r for r in records if r.exc_info]
                for m in modules:
                    errors[m.slot] += _flags(_module(cluster, m.slot), m.seqs)
                    errors[m.slot] += [_describe(r) for r in raised if _concerns(r, cluster, m)]
            for m in modules:
                errors[m.slot] += _missing_sync(m.seqs)
                seqs = () if rejected else m.seqs
                module = _module(cluster, m.slot)
                runs[m.slot] = _collect(module, m.module_type, seqs, max_render_time_ns)
        finally:
            cluster.close()  # a qcodes Instrument: free its name
    log = out.getvalue() + "".join(f"{r.levelname}: {r.getMessage()}\n" for r in records)
    return {
        m.slot: ModuleRun(
            **runs[m.slot], errors=errors[m.slot], log=log, full_scale_v=FULL_SCALE_V[m.module_type]
        )
        for m in modules
    }


def _check_modules(modules: Sequence[ModuleSpec]) -> None:
    slots = [m.slot for m in modules]
    if not modules or len(set(slots)) != len(slots) or not all(s in _SLOTS for s in slots):
        raise ValueError(f"slots must be distinct and in 1..20, got {slots}")
    for m in modules:
        _check_request(m.module_type, m.seqs)
        if m.mock_data and m.module_type != "QRM":
            raise ValueError(f"slot {m.slot}: mock acquisition data on a {m.module_type}")
        indices = {s.index for s in m.seqs}
        extra = sorted((set(m.parameters) | set(m.mock_data)) - indices)
        if extra:
            raise ValueError(
                f"slot {m.slot}: parameters or mock data for sequencers {extra}, "
                f"which are not in its seqs {sorted(indices)}"
            )


def _new_cluster(modules: Sequence[ModuleSpec], isa_version: tuple[int, int] | None) -> Any:
    _simulator_class()  # imports q1simulator, with a stub for its Qt GUI if need be
    import q1simulator

    name = f"q1cluster_{uuid.uuid4().hex[:12]}"
    types = {m.slot: m.module_type for m in modules}
    return q1simulator.Cluster(name, modules=types, isa_version=isa_version)


def _module(cluster: Any, slot: int) -> Any:
    return cluster.submodules[f"module{slot}"]


def _upload(module: Any, spec: ModuleSpec) -> list[str]:
    errors: list[str] = []
    for seq_spec in spec.seqs:
        seq = module.sequencers[seq_spec.index]
        try:
            _configure(seq, spec.module_type, seq_spec)
            for name, value in spec.parameters.get(seq_spec.index, {}).items():
                seq.parameters[name](value)
            seq.sequence(dict(seq_spec.sequence))
            for acq_name, values in spec.mock_data.get(seq_spec.index, {}).items():
                if acq_name not in seq_spec.sequence.get("acquisitions", {}):
                    raise ValueError(f"mock data for acquisition {acq_name!r}, not in the sequence")
                seq.set_acquisition_mock_data([[complex(v) for v in values]], name=acq_name)
        except Exception as exc:  # q1simulator raises bare Exceptions for bad programs
            errors.append(f"seq{seq_spec.index}: upload rejected: {exc!r}")
    return errors


def _run(cluster: Any, modules: Sequence[ModuleSpec], timeout_s: float) -> None:
    """Start every sequencer of every module at once; wait for all, aborting at the deadline."""
    for m in modules:
        for spec in m.seqs:
            cluster.arm_sequencer(m.slot, spec.index)
    before = set(threading.enumerate())
    cluster.start_sequencer()  # every armed sequencer of the cluster
    workers = [t for t in threading.enumerate() if t not in before]
    deadline = time.monotonic() + timeout_s
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    stuck = [w.name for w in workers if w.is_alive()]
    if stuck:
        for m in modules:
            for spec in m.seqs:
                _module(cluster, m.slot).sequencers[spec.index].abort()
        cluster._scheduler.event_distributor.abort()  # wakes threads in wait_sync or latches
        for worker in workers:
            worker.join(_ABORT_GRACE_S)
        raise TimeoutError(
            f"q1simulator did not finish within {timeout_s} s ({', '.join(stuck)} still "
            "running): a sequencer waiting in wait_sync for a peer that never gets there?"
        )


def _concerns(record: logging.LogRecord, cluster: Any, spec: ModuleSpec) -> bool:
    """Whether a q1simulator exception record is about this module: it names a sequencer
    ("Exception in <cluster>_module<slot>_sequencer<i>"); one naming none concerns all."""
    message = record.getMessage()
    prefix = f"{cluster.name}_module"
    if prefix not in message:
        return True
    return f"{prefix}{spec.slot}_" in message


# --- from a compiled job -------------------------------------------------------------------


def compiled_modules(
    job: CompiledJob, mock_data: Mapping[int, Sequence[complex]] | None = None
) -> list[ModuleSpec]:
    """Every module of the job's (one) cluster, with its sequencers' feedback settings and
    ``mock_data`` (acquisition channel -> one value per acquire of the channel in the run)
    given to the sequencer and acquisition the job says hold that channel."""
    (cluster,) = job.clusters
    parameters: dict[int, dict[int, dict[str, ParameterValue]]] = {}
    for module in cluster.modules:
        for seq in module.sequencers:
            if seq.sequence is not None:
                parameters.setdefault(module.slot, {})[seq.index] = _feedback(seq.settings)
    mocks: dict[int, dict[int, dict[str, Sequence[complex]]]] = {}
    for channel, values in (mock_data or {}).items():
        spec = next((a for a in job.acquisitions if a.acq_channel == channel), None)
        if spec is None:
            raise ValueError(f"mock data for acquisition channel {channel}, not in the job")
        mocks.setdefault(spec.slot, {}).setdefault(spec.sequencer, {})[spec.acq_name] = values
    return [
        ModuleSpec(
            slot=m.slot,
            module_type=cast(ModuleType, m.module_type),
            seqs=seq_specs(module_of(job, m.slot)),
            parameters=parameters.get(m.slot, {}),
            mock_data=mocks.get(m.slot, {}),
        )
        for m in cluster.modules
        if any(s.sequence is not None for s in m.sequencers)
    ]


def _feedback(settings: SequencerSettings) -> dict[str, ParameterValue]:
    found = {name: getattr(settings, name) for name in FEEDBACK_SETTINGS}
    return {name: value for name, value in found.items() if value is not None}
