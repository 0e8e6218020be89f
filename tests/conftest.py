"""Shared test configuration.

* anyio tests run on asyncio (the daemon's backend);
* every program the compiler produces in any test is run through our Q1ASM validator: a
  program the instrument's assembler would reject fails the test that compiled it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import qconductor.adapters.qblox.compiler.compile as compile_module
from qconductor.adapters.qblox.compiler.settings import MODULE_IO
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.hardware import HardwareConfig
from qconductor.protocol.schedule import Schedule


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def assert_programs_valid(job: CompiledJob) -> None:
    for cluster in job.clusters:
        for module in cluster.modules:
            limit = MODULE_IO[module.module_type].max_instructions
            for seq in module.sequencers:
                if seq.sequence is None:
                    continue
                problems = validate_program(seq.sequence.program, max_instructions=limit)
                errors = [d for d in problems if d.severity == "error"]
                assert not errors, (
                    f"{cluster.name}.module{module.slot}.sequencer{seq.index}: "
                    + "; ".join(map(str, errors))
                )


@pytest.fixture(autouse=True)
def _validate_every_compiled_program() -> Iterator[None]:
    original = compile_module._compile

    def checked(schedule: Schedule, hardware: HardwareConfig, digest: str | None) -> CompiledJob:
        job = original(schedule, hardware, digest)
        assert_programs_valid(job)
        return job

    # A private MonkeyPatch: sharing the test's own would change when its patches are undone.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compile_module, "_compile", checked)
        yield
