"""Turning a version 0.1 config into version 0.2 by making the implied input edges explicit.

In 0.1 a QRM / QRM_RF output channel also activates inputs (see ``routing.py``); in 0.2 only
wired inputs read a port. The upgrade appends one edge ``[input channel, port]`` for every input
0.1 implies, and sets ``"version": "0.2"``; everything else is kept as the user wrote it.
"""

from __future__ import annotations

from .loader import Source, load_hardware_config
from .model import HardwareConfig


def upgrade_to_v02(
    config: HardwareConfig | Source,
) -> tuple[HardwareConfig, list[tuple[str, str]]]:
    """The 0.2 equivalent of ``config`` and the edges added, as ``(channel node, port)``.

    A config already at 0.2 comes back unchanged with no edges. Anything that is not a loaded
    config is loaded first (and may raise ``QconductorError``).
    """
    if not isinstance(config, HardwareConfig):
        config = load_hardware_config(config)
    if config.version == "0.2":
        return config, []
    added: list[tuple[str, str]] = []
    for port in config.ports():
        route = config.route(port)
        assert route is not None
        added += [(ref.node, port) for ref in route.implied_inputs]
    data = config.dump()
    data.pop("version", None)
    data["connectivity"]["graph"] = [*data["connectivity"]["graph"], *map(list, added)]
    return load_hardware_config({"version": "0.2", **data}), added
