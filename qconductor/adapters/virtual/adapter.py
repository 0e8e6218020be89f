"""The simulated cluster: the same port as the Qblox adapter, backed by the virtual lab.

``arm`` checks the job against the cluster's modules and every program with our Q1ASM
validator (what the instrument's assembler would refuse at upload); ``start`` runs the job in a
worker thread (interpreter and physics); ``wait_done`` waits for it and, with pacing, until the
job would have finished on hardware; runtime faults (an illegal instruction, a wait below 4 ns,
a bin out of range) fail the job as INSTRUMENT_ERROR with the hardware's flag name, and
:meth:`VirtualClusterAdapter.sequencer_flags` reports that flag for the sequencer that raised it
(``{"module2.sequencer0": ["ACQ BIN INDEX INVALID"]}``), as the Qblox adapter reports the
instrument's.

For tests only, :class:`Fault` makes a stage raise or hang for jobs whose schedule name starts
with a prefix (the daemon config's ``faults`` of a simulated cluster), or corrupts a job's
upload so that its sequencer faults while running, so the daemon's handling of a misbehaving
instrument can be tested against the real process.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import anyio
import structlog
from pydantic import BaseModel, ConfigDict, model_validator

from qconductor.adapters.base import AcquisitionData, SequencerFlags, sequencer_key
from qconductor.adapters.qblox.compiler.settings import MODULE_IO
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.adapters.virtual.interpreter import (
    FLAG_ACQ_BIN_INDEX,
    FLAG_ACQ_INDEX,
    FLAG_FORCED_STOP,
    FLAG_ILLEGAL,
    FLAG_WAIT_LONG,
    FLAG_WAIT_SHORT,
    FLAG_WAVE_INDEX,
    FLAG_WEIGHT_INDEX,
)
from qconductor.adapters.virtual.lab import Lab
from qconductor.adapters.virtual.physics import PropagatorCache
from qconductor.adapters.virtual.simulate import simulate
from qconductor.protocol.compiled import CompiledJob, ModuleType
from qconductor.protocol.errors import ErrorCode, QconductorError

log = structlog.get_logger("qconductor.virtual")
# The flags the interpreter raises (its errors' message starts with one), as the driver names
# them with spaces; the two WAIT TIME flags are q1simulator's, the hardware has no such flag.
RUNTIME_FLAGS = frozenset(
    {
        FLAG_ILLEGAL,
        FLAG_WAIT_SHORT,
        FLAG_WAIT_LONG,
        FLAG_ACQ_INDEX,
        FLAG_ACQ_BIN_INDEX,
        FLAG_FORCED_STOP,
        *(FLAG_WAVE_INDEX.format(path=p) for p in (0, 1)),
        *(FLAG_WEIGHT_INDEX.format(path=p) for p in (0, 1)),
    }
)
_SEQUENCER_PATH = re.compile(r"clusters\[[^\]]*\]\.modules\[(\d+)\]\.sequencers\[(\d+)\]")


class Fault(BaseModel):
    """Test-only: ``stage`` raises (INSTRUMENT_ERROR) or hangs (until cancelled) for every job
    whose schedule name starts with ``schedule_prefix``; ``corrupt`` (stage ``arm`` only)
    uploads the job's first acquiring sequencer without its acquisition declarations, so it
    faults while running with ``ACQ INDEX INVALID``, as a program the instrument cannot run
    would. ``stop`` applies to the job on the cluster when the daemon stops it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Literal["arm", "start", "wait_done", "retrieve", "stop"]
    action: Literal["raise", "hang", "corrupt"]
    schedule_prefix: str = "fault"

    @model_validator(mode="after")
    def _corrupt_at_arm(self) -> Fault:
        if self.action == "corrupt" and self.stage != "arm":
            raise ValueError("action 'corrupt' applies to stage 'arm' only")
        return self


class VirtualClusterAdapter:
    def __init__(
        self,
        name: str,
        modules: Mapping[int, ModuleType],
        lab: Lab,
        *,
        pacing: bool = False,
        faults: Sequence[Fault] = (),
    ) -> None:
        self.name = name
        self._modules = dict(modules)
        self._lab = lab
        self._pacing = pacing
        self._faults = tuple(faults)
        self._cache = PropagatorCache()
        self._job: CompiledJob | None = None
        self._result: AcquisitionData | None = None
        self._running: asyncio.Future[AcquisitionData] | None = None
        self._stopped = anyio.Event()
        self._started_at = 0.0
        self._flags: SequencerFlags = {}

    async def open(self) -> None:
        log.info("simulated cluster open", cluster=self.name, modules=self._modules)

    def _faults_for(self, stage: str, job: CompiledJob | None) -> list[Fault]:
        if job is None:
            return []
        return [
            f
            for f in self._faults
            if f.stage == stage and job.schedule_name.startswith(f.schedule_prefix)
        ]

    async def _inject(self, stage: str, job: CompiledJob | None) -> None:
        for fault in self._faults_for(stage, job):
            if fault.action in ("raise", "hang"):
                log.warning("injected fault", cluster=self.name, stage=stage, action=fault.action)
                if fault.action == "hang":
                    await anyio.sleep_forever()
                raise QconductorError(
                    ErrorCode.INSTRUMENT_ERROR,
                    f"cluster {self.name}: {stage} failed (a fault injected for tests)",
                    f"clusters[{self.name}]",
                )

    async def arm(self, job: CompiledJob) -> None:
        self._flags = {}  # an earlier job's are not this one's
        await self._inject("arm", job)
        program = next((c for c in job.clusters if c.name == self.name), None)
        if program is None:
            raise QconductorError(
                ErrorCode.INSTRUMENT_MISMATCH,
                f"the job has nothing for cluster {self.name}",
                f"clusters[{self.name}]",
            )
        for module in program.modules:
            have = self._modules.get(module.slot)
            if have != module.module_type:
                raise QconductorError(
                    ErrorCode.INSTRUMENT_MISMATCH,
                    f"the job was compiled for a {module.module_type} in slot {module.slot}; "
                    f"cluster {self.name} has {have or 'nothing'} there",
                    f"clusters[{self.name}].modules[{module.slot}]",
                )
            limit = MODULE_IO[module.module_type].max_instructions
            for seq in module.sequencers:
                if seq.sequence is None:
                    continue
                errors = [
                    d
                    for d in validate_program(seq.sequence.program, max_instructions=limit)
                    if d.severity == "error"
                ]
                if errors:
                    raise QconductorError(
                        ErrorCode.INSTRUMENT_ERROR,
                        f"sequencer {seq.index} of module {module.slot} refused the program: "
                        + "; ".join(str(d) for d in errors),
                        f"clusters[{self.name}].modules[{module.slot}].sequencers[{seq.index}]",
                    )
        if any(f.action == "corrupt" for f in self._faults_for("arm", job)):
            log.warning("injected fault", cluster=self.name, stage="arm", action="corrupt")
            job = _without_acquisitions(job, self.name)
        self._job = job
        self._result = None

    async def start(self) -> None:
        """Start the job: it runs in a worker thread from now on."""
        job = self._job
        if job is None:
            raise QconductorError(
                ErrorCode.JOB_STATE, f"cluster {self.name}: nothing armed to start"
            )
        await self._inject("start", job)
        self._started_at = time.monotonic()
        self._stopped = anyio.Event()
        loop = asyncio.get_running_loop()
        self._running = loop.run_in_executor(
            None, lambda: simulate(job, self.name, self._lab, cache=self._cache)
        )

    async def wait_done(self, timeout_s: float) -> None:
        running, job, stopped = self._running, self._job, self._stopped
        if running is None or job is None:
            return
        await self._inject("wait_done", job)
        try:
            with anyio.fail_after(timeout_s):
                result = await asyncio.shield(running)
                if self._pacing:  # as long as the job would take on hardware, unless stopped
                    elapsed = time.monotonic() - self._started_at
                    with anyio.move_on_after(max(0.0, job.duration_ns * 1e-9 - elapsed)):
                        await stopped.wait()
                if self._running is running:  # not stopped, and no later job started meanwhile
                    self._result = result
        except TimeoutError:
            raise QconductorError(
                ErrorCode.TIMEOUT,
                f"cluster {self.name}: the simulated job did not finish within {timeout_s} s",
            ) from None
        except QconductorError as exc:
            self._flags = _flags_of(exc)
            raise
        except Exception as exc:  # a defect in the lab: report it as the job's failure
            log.exception("simulation failed", cluster=self.name)
            raise QconductorError(
                ErrorCode.INTERNAL, f"the simulated lab failed: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            if running.done() and self._running is running:
                self._running = None

    async def retrieve(self, job: CompiledJob) -> AcquisitionData:
        await self._inject("retrieve", job)
        if self._result is None:
            raise QconductorError(
                ErrorCode.JOB_STATE, f"cluster {self.name}: no results (the job did not run)"
            )
        return self._result

    async def stop(self) -> None:
        """The simulated sequencers stop at once; a run still computing is left to finish
        and its result dropped."""
        await self._inject("stop", self._job)
        self._job = None
        self._running = None
        self._stopped.set()

    async def close(self) -> None:
        self._job = None
        log.info("simulated cluster closed", cluster=self.name)

    async def health(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": "simulated",
            "modules": dict(self._modules),
            "pacing": self._pacing,
            "qubits": sorted(self._lab.qubits),
            "healthy": True,
        }

    async def sequencer_flags(self) -> SequencerFlags:
        """The flag of the sequencer whose program faulted in the last run, if one did."""
        return {key: list(flags) for key, flags in self._flags.items()}


def _flags_of(error: QconductorError) -> SequencerFlags:
    """The interpreter's fault as flags: its message starts with the flag, its path names the
    sequencer (``clusters[c].modules[2].sequencers[0].program[line 7]``)."""
    where = _SEQUENCER_PATH.match(error.path)
    flag = error.message.split(": ", 1)[0]
    if error.code != ErrorCode.INSTRUMENT_ERROR or where is None or flag not in RUNTIME_FLAGS:
        return {}
    return {sequencer_key(int(where[1]), int(where[2])): [flag]}


def _without_acquisitions(job: CompiledJob, cluster: str) -> CompiledJob:
    """``job`` with the first acquiring sequencer of ``cluster`` stripped of its acquisition
    declarations (the test-only ``corrupt`` fault)."""
    clusters = list(job.clusters)
    for c, program in enumerate(clusters):
        if program.name != cluster:
            continue
        for m, module in enumerate(program.modules):
            for s, seq in enumerate(module.sequencers):
                if seq.sequence is None or not seq.sequence.acquisitions:
                    continue
                sequencers = list(module.sequencers)
                sequencers[s] = seq.model_copy(
                    update={"sequence": seq.sequence.model_copy(update={"acquisitions": {}})}
                )
                modules = list(program.modules)
                modules[m] = module.model_copy(update={"sequencers": sequencers})
                clusters[c] = program.model_copy(update={"modules": modules})
                return job.model_copy(update={"clusters": clusters})
    return job
