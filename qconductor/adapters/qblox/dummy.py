"""The assembler seam of the driver's dummy cluster: our Q1ASM validator instead of its binary.

A dummy ``Cluster`` (``dummy_cfg=...``) routes each module's SCPI commands to a
``ModuleDummyTransport``. On ``SEQuencer#:PROGram`` (every program upload) that transport writes
the program to ``./tmp.q1asm`` in the *current directory* and runs a native assembler bundled
with qblox-instruments. On our machines this cannot work, and should not be relied on anyway:

- the Linux binary needs glibc >= 2.38 (Debian 12 has 2.36): every upload fails with
  ``RuntimeError('Assembly failed.')``, which would make the dummy useless for a real job;
- the fixed file name in the cwd is a race between parallel uploads (two clusters, two test
  workers) and litters whatever directory the daemon or a test happens to run in.

:func:`install_assembler_seam` replaces, on each QCM/QRM-type module transport, the handler
registered under ``SEQuencer#:PROGram`` by one that decodes the program as the original does,
checks it with :func:`qconductor.adapters.qblox.q1asm.validate_program` (instruction limit of the
module type) and records the outcome exactly where the original does: the assembler status
(``STATus:ASSEMbler:SUCCess?``), the assembler log (``STATus:ASSEMbler:LOG?``) and, on failure,
``"Assembly failed."`` in the system error list. The driver thus raises its usual error for a bad
program, prints our log where it would print the assembler's, and ``get_assembler_log(slot)``
returns our diagnostics. No file is written. Other module types (QTM, QRC, ...) keep the
original handler: the adapter refuses them for now.

Everything here runs on the cluster's driver thread (it is called from inside the driver).
"""

from __future__ import annotations

from typing import Any, Final

from qconductor.adapters.qblox.q1asm import (
    MAX_INSTRUCTIONS_QCM,
    MAX_INSTRUCTIONS_QRM,
    validate_program,
)
from qconductor.protocol.errors import Diagnostic

PROGRAM_COMMAND: Final = "SEQuencer#:PROGram"
"""Key of the program-upload handler in a dummy transport's ``_cmds`` dict."""

ASSEMBLY_FAILED: Final = "Assembly failed."
"""The system error the original handler reports (and the driver raises) on failure."""

NUM_SLOTS: Final = 20


def max_instructions(module_transport: Any) -> int | None:
    """The instruction limit of a module transport's type; None if we do not handle it."""
    if module_transport.is_qrc_type or module_transport.is_qtm_type:
        return None
    if module_transport.is_qrm_type:
        return MAX_INSTRUCTIONS_QRM
    if module_transport.is_qcm_type:
        return MAX_INSTRUCTIONS_QCM
    return None


def format_assembler_log(diagnostics: list[Diagnostic], num_lines: int) -> str:
    """The assembler log text: one diagnostic a line, or a one-line success summary."""
    errors = [d for d in diagnostics if d.severity == "error"]
    lines = [str(d) for d in diagnostics]
    if errors:
        lines.append(f"assembly failed: {len(errors)} error(s) (qconductor Q1ASM validator)")
    else:
        lines.append(f"assembly completed: {num_lines} line(s) (qconductor Q1ASM validator)")
    return "\n".join(lines)


class ValidatingAssembler:
    """Drop-in for ``ModuleDummyTransport._set_sequencer_program`` (same call signature)."""

    def __init__(self, transport: Any, max_instructions: int | None) -> None:
        self._transport = transport
        self.max_instructions = max_instructions
        self.last_diagnostics: list[Diagnostic] = []

    def __call__(self, cmd_params: list[Any], cmd_args: list[Any], bin_in: bytes) -> None:
        transport = self._transport
        text = transport._decode_bin(bin_in).decode()
        try:
            diagnostics = validate_program(text, max_instructions=self.max_instructions)
        except Exception as exc:  # a defect in the validator must still fail the upload loudly
            ok = False
            diagnostics = []
            log = f"internal error in qconductor's Q1ASM validator: {exc!r}"
        else:
            ok = not any(d.severity == "error" for d in diagnostics)
            log = format_assembler_log(diagnostics, len(text.splitlines()))
        self.last_diagnostics = diagnostics
        transport._asm_log = log
        transport._asm_status = ok
        if not ok:
            transport._system_error.append(ASSEMBLY_FAILED)


def install_assembler_seam(cluster: Any) -> list[int]:
    """Replace the program assembler of every QCM/QRM-type module of a dummy ``cluster``.

    Returns the slots patched. Idempotent. Raises ``TypeError`` for a cluster that is not a
    dummy (its transport has no module transports).
    """
    transport = cluster._transport
    get_module_transport = getattr(transport, "get_module_transport", None)
    if get_module_transport is None:
        raise TypeError(f"{type(transport).__name__} is not a dummy cluster transport")
    patched = []
    for slot in range(1, NUM_SLOTS + 1):
        module = get_module_transport(slot)
        if module is None:
            continue
        limit = max_instructions(module)
        if limit is None:
            continue
        module._cmds[PROGRAM_COMMAND] = ValidatingAssembler(module, limit)
        patched.append(slot)
    return patched
