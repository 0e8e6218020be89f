"""The hardware compilation config: the Qblox backend's JSON config, validated and explained.

Configs written for quantify-scheduler 0.28's or qblox-scheduler 1.0's Qblox backend load
unchanged (versions "0.1" and "0.2"); invalid ones are rejected with every problem at once, each
a :class:`~qconductor.protocol.errors.Diagnostic` with its path in the config and a hint.
Problems the reference only meets when a schedule uses the entry (an attenuation on a baseband
module, options for a port nothing connects, two port-clocks asking one LO for different
frequencies, an ``interm_freq`` beyond the NCO range) are warnings, kept on ``config.warnings``.

Accepted beyond the common core, for compatibility: ``compilation_passes`` and
``allow_off_grid_nco_ops`` (ignored, with a warning), qblox-scheduler's ``rf_output_on: "auto"``,
``sequencer_isa_version``, cluster ``port``/``module_base_port``, QSM modules and options,
``net_zero_pulse_parameters``, ``ihp_coeffs`` and ``{time_constant, amplitude}`` filter stages,
both ``config_type`` spellings. Not accepted: the pre-0.1 "old-style" config (``backend`` key).

Example configs (``config/hardware/``): ``default.json`` is the demo setup: a baseband QCM
(slot 1) drives ``q0:mw`` and ``q1:mw``, a baseband QRM (slot 2) reads ``q0:res`` and
``q1:res`` frequency-multiplexed on one output/input pair. Without an LO a baseband module
outputs the NCO frequency itself, so each ``interm_freq`` there *is* the clock frequency a
schedule must use: ``q0.01`` 80 MHz, ``q1.01`` -60 MHz, ``q0.ro`` 150 MHz, ``q1.ro`` 250 MHz
(another clock frequency on those port-clocks is CONFIG_FREQUENCY_INCONSISTENT).
``transmon_full.json`` uses every module type, external LOs with IQ mixers, RF modules with
attenuation and mixer corrections; ``nv_center.json`` the optical-modulator layout;
``seed_v01.json`` / ``seed_v02.json`` are the versioning page's two examples.

Public API::

    load_hardware_config(source) -> HardwareConfig      # raises QconductorError
    check_hardware_config(source) -> list[Diagnostic]   # errors and warnings, never raises
    hardware_config_json_schema() -> dict
    upgrade_to_v02(config) -> (HardwareConfig, added_edges)
    HardwareConfig.dump() / .route(port) / .ports() / .modules() / .options_for(port, clock)
    solve_frequencies(clock_freq, route, options, *, path) -> FrequencyPlan
"""

from .channels import (
    MODULE_SPECS,
    MODULE_TYPES,
    ChannelRef,
    ModuleSpec,
    ModuleType,
    parse_channel_name,
)
from .frequencies import FrequencyPlan, solve_frequencies
from .loader import (
    Source,
    check_hardware_config,
    hardware_config_json_schema,
    load_hardware_config,
)
from .model import HardwareConfig
from .routing import LoRef, PortRoute, SignalPath
from .upgrade import upgrade_to_v02
from .views import PortClockOptions, port_clock_key, split_port_clock

__all__ = [
    "MODULE_SPECS",
    "MODULE_TYPES",
    "ChannelRef",
    "FrequencyPlan",
    "HardwareConfig",
    "LoRef",
    "ModuleSpec",
    "ModuleType",
    "PortClockOptions",
    "PortRoute",
    "SignalPath",
    "Source",
    "check_hardware_config",
    "hardware_config_json_schema",
    "load_hardware_config",
    "parse_channel_name",
    "port_clock_key",
    "solve_frequencies",
    "split_port_clock",
    "upgrade_to_v02",
]
