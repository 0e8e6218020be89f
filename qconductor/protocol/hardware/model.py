"""The root model: a Qblox hardware compilation config, and the views the compiler uses.

The JSON form is the one quantify-scheduler 0.28 and qblox-scheduler 1.0 accept (see the
package docstring for what differs). ``HardwareConfig`` is a closed pydantic model; build it with
:func:`qconductor.protocol.hardware.load_hardware_config`, which also runs the semantic checks
and keeps the warnings on the object.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr

from ..errors import Diagnostic
from .channels import ModuleType
from .description import ClosedModel, ClusterDescription, InstrumentDescription
from .graph import Connectivity, parse_links
from .options import HardwareOptions
from .routing import PortRoute, build_routes
from .views import PortClockOptions, options_for

Version = Literal["0.1", "0.2"]

ConfigType = Literal[
    "quantify_scheduler.backends.qblox_backend.QbloxHardwareCompilationConfig",
    "QbloxHardwareCompilationConfig",
]
"""quantify-scheduler 0.28 names the class by import path, qblox-scheduler 1.0 by bare name."""


class CompilerOptions(ClosedModel):
    """Options of compiler passes that rewrite the schedule before hardware compilation."""

    auto_rf_switch: bool = False
    """Insert RF-switch operations around microwave pulses (quantify-scheduler 0.28)."""
    auto_rf_switch_ramp_buffer: float = 20e-9
    """Seconds the RF switch turns on before and stays on after pulses (quantify-scheduler)."""
    retime_allowed: bool = False
    """Allow re-timing the schedule to make room for RF-switch ramps (qblox-scheduler 1.0)."""


class CompilationPass(ClosedModel):
    """A compilation pass as quantify serialises it. Accepted for compatibility; qconductor
    runs its own passes and never imports these functions."""

    name: str
    """Name of the pass."""
    compilation_func: str
    """Import path of the pass function."""


class HardwareConfig(ClosedModel):
    """A Qblox hardware compilation config (version 0.1 or 0.2)."""

    version: Version = "0.1"
    """Config version. In 0.1 a readout module's output channel also activates its input; in
    0.2 inputs are wired explicitly. Absent means "0.1"."""
    config_type: ConfigType = (
        "quantify_scheduler.backends.qblox_backend.QbloxHardwareCompilationConfig"
    )
    """The backend's config class, as quantify-scheduler or qblox-scheduler name it."""
    hardware_description: dict[str, InstrumentDescription]
    """The instruments of the setup, keyed by name."""
    hardware_options: HardwareOptions
    """Options per port-clock combination."""
    connectivity: Connectivity
    """The wiring between module channels, auxiliary instruments and device ports."""
    compiler_options: CompilerOptions | None = None
    """Options of schedule-rewriting compiler passes."""
    compilation_passes: list[CompilationPass] = Field(default_factory=list)
    """Reference-backend passes; accepted and ignored (a warning says so)."""
    allow_off_grid_nco_ops: bool | None = None
    """Deprecated in quantify-scheduler 0.28; accepted and ignored."""

    _warnings: list[Diagnostic] = PrivateAttr(default_factory=list)
    _routes: dict[str, PortRoute] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        """Equal when the configs are: warnings and cached views do not count."""
        if not isinstance(other, HardwareConfig):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    @property
    def warnings(self) -> list[Diagnostic]:
        """Warning diagnostics found while loading (the config was accepted)."""
        return self._warnings

    def dump(self) -> dict[str, Any]:
        """The config as JSON-ready data, with exactly the keys the user gave (the version
        stays absent if it was absent; edges keep their list-valued ends)."""
        return self.model_dump(mode="json", exclude_unset=True)

    # --- views -------------------------------------------------------------------------------

    def _route_table(self) -> dict[str, PortRoute]:
        if self._routes is None:
            links, _ = parse_links(self.connectivity, self.hardware_description)
            self._routes, _ = build_routes(self.version, self.hardware_description, links)
        return self._routes

    def route(self, port: str) -> PortRoute | None:
        """Everything about how ``port`` is wired; None when no edge reaches it."""
        return self._route_table().get(port)

    def ports(self) -> list[str]:
        """Every device port that appears in the connectivity, sorted."""
        return sorted(self._route_table())

    def modules(self) -> list[tuple[str, int, ModuleType]]:
        """Every described module as (cluster, slot, module type), by cluster then slot."""
        found: list[tuple[str, int, ModuleType]] = []
        for name, instrument in self.hardware_description.items():
            if isinstance(instrument, ClusterDescription):
                for slot in sorted(instrument.modules):
                    found.append((name, slot, instrument.modules[slot].instrument_type))
        return found

    def options_for(self, port: str, clock: str) -> PortClockOptions:
        """The hardware options of one port-clock (None where unset)."""
        return options_for(self.hardware_options, port, clock)
