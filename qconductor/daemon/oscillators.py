"""The daemon's external local oscillators: set each LO a job needs before its clusters arm.

The compiler decides one :class:`~qconductor.protocol.lo.LoSetting` per LO a job uses
(``CompiledJob.local_oscillators``); here each goes to the adapter that ``matches`` it (by the
hardware config's ``instrument_name``, or the LO's key). An LO no adapter matches is
``INSTRUMENT_MISMATCH``; an adapter's failure is its own error. An LO no job uses is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from qconductor.adapters.lo import LocalOscillatorAdapter
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import ErrorCode, QconductorError


async def apply_lo_settings(
    adapters: Mapping[str, LocalOscillatorAdapter], compiled: CompiledJob
) -> None:
    """Bring every external LO of ``compiled`` to its setting, in the job's order."""
    for setting in compiled.local_oscillators:
        adapter = next((a for a in adapters.values() if a.matches(setting)), None)
        if adapter is None:
            raise QconductorError(
                ErrorCode.INSTRUMENT_MISMATCH,
                f"the job needs the local oscillator {setting.name!r} (instrument "
                f"{setting.instrument_name!r}), which this daemon does not own (it owns "
                f"{', '.join(sorted(adapters)) or 'none'})",
                f"local_oscillators[{setting.name}]",
                hint="add a [[local_oscillators]] entry named like the LO's instrument_name to "
                "the daemon config",
            )
        await adapter.apply(setting)
