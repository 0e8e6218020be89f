"""The port every instrument adapter implements: one adapter owns one cluster.

The daemon drives a job through ``arm`` -> ``start`` -> ``wait_done`` -> ``retrieve``; ``stop``
leaves the hardware safe (sequencers stopped) and must be safe to call at any time, also
after a failure or cancellation; after a failure the daemon asks ``sequencer_flags`` what the
sequencers reported. Every method has an explicit deadline in seconds where it may block.
Errors leave as :class:`~qconductor.protocol.errors.QconductorError` (code
``INSTRUMENT_ERROR``, ``INSTRUMENT_MISMATCH`` or ``TIMEOUT``) with the driver's exception chained.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from qconductor.protocol.compiled import CompiledJob

ChannelData = npt.NDArray[np.complex128] | npt.NDArray[np.float64]
AcquisitionData = dict[int, ChannelData]
"""Acquisition channel -> its data: complex (integrations, traces) or real (summed weights,
thresholded states, trigger counts); shape ``(num_bins,)`` in average mode, ``(repetitions,
num_bins)`` in append mode, ``(samples,)`` for a trace."""

SequencerFlags = dict[str, list[str]]
"""``module<slot>.sequencer<n>`` -> the error and warning flags that sequencer raised, named as
the instrument prints them (the driver's ``SequencerStatusFlags`` names with spaces: ``ACQ BIN
INDEX INVALID``, ``FORCED STOP``); sequencers without such flags are left out."""


def sequencer_key(slot: int, sequencer: int) -> str:
    """``module2.sequencer0``: how :data:`SequencerFlags` names a sequencer."""
    return f"module{slot}.sequencer{sequencer}"


def flag_name(name: str) -> str:
    """A driver flag's enum name as the instrument prints it: ``ACQ_BIN_INDEX_INVALID`` ->
    ``ACQ BIN INDEX INVALID``."""
    return name.replace("_", " ")


class InstrumentAdapter(Protocol):
    name: str

    async def open(self) -> None:
        """Connect (or create the simulated instrument); idempotent."""

    async def arm(self, job: CompiledJob) -> None:
        """Apply settings (only what changed), upload the sequences and arm every sequencer
        the job uses on this cluster; switch off the others the job lists."""

    async def start(self) -> None:
        """Start every armed sequencer at once."""

    async def wait_done(self, timeout_s: float) -> None:
        """Return when every started sequencer has stopped; raise TIMEOUT after ``timeout_s``."""

    async def retrieve(self, job: CompiledJob) -> AcquisitionData:
        """Read back the acquisitions of ``job`` on this cluster."""

    async def stop(self) -> None:
        """Stop every sequencer (the safe state). Never raises for an already stopped one."""

    async def close(self) -> None:
        """Stop and release the instrument; idempotent."""

    async def health(self) -> dict[str, Any]:
        """Identity, versions and status flags, for the ``status`` verb."""

    async def sequencer_flags(self) -> SequencerFlags:
        """The error and warning flags of the sequencers of the job armed last, as they are now
        (the daemon asks after a failure, once the sequencers are stopped); empty when none
        raised any. Never raises for a flag it cannot read: it leaves that sequencer out."""
