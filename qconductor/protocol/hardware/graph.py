"""``connectivity.graph``: parsing edges and naming what each node is.

An edge is a pair ``[a, b]``; either end may be a list of nodes, meaning every pairing
(``["cluster0.module1.complex_output_0", ["q0:mw", "q1:mw"]]`` is two edges). A node is one of

- ``cluster.moduleN.channel``: a module channel (``cluster0.module2.complex_input_0``);
- ``element:port``: a port of the quantum device (``q0:mw``), no dot allowed;
- ``mixer.if`` / ``mixer.lo`` / ``mixer.rf``: the ports of an IQ mixer;
- ``modulator.if`` / ``modulator.lo`` / ``modulator.out``: the ports of an optical modulator;
- ``lo.output``: the output of an external local oscillator (or laser).

The instrument name is the text before the first dot and must be a key of
``hardware_description``; that is the reference's rule too.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from ..errors import Diagnostic, ErrorCode
from .channels import MAX_SLOT, MIN_SLOT, MODULE_SPECS, ChannelRef
from .description import (
    ClosedModel,
    ClusterDescription,
    InstrumentDescription,
    IQMixerDescription,
    LocalOscillatorDescription,
    OpticalModulatorDescription,
)


def _end_kind(value: Any) -> str:
    return "~many" if isinstance(value, list | tuple) else "~one"


EdgeEnd = Annotated[
    Annotated[str, Tag("~one")] | Annotated[list[str], Field(min_length=1), Tag("~many")],
    Discriminator(_end_kind),
]
"""One node, or a list of nodes."""

Edge = tuple[EdgeEnd, EdgeEnd]


class Connectivity(ClosedModel):
    """How module channels, auxiliary instruments and device ports are wired."""

    graph: list[Edge]
    """The edges, each a pair of nodes (either end may be a list of nodes)."""


# --- nodes ------------------------------------------------------------------------------------

AuxKind = Literal["IQMixer", "OpticalModulator", "LocalOscillator"]

AUX_TERMINALS: Mapping[AuxKind, tuple[str, ...]] = {
    "IQMixer": ("if", "lo", "rf"),
    "OpticalModulator": ("if", "lo", "out"),
    "LocalOscillator": ("output",),
}
"""The documented port names. Like the reference, routing goes by what a port is wired to
(a module channel, an LO, a device port); another name only earns a warning."""


@dataclass(frozen=True)
class PortNode:
    """A port of the quantum device."""

    port: str


@dataclass(frozen=True)
class ChannelNode:
    """A module channel."""

    ref: ChannelRef


@dataclass(frozen=True)
class AuxNode:
    """A terminal of an IQ mixer, optical modulator or local oscillator."""

    instrument: str
    kind: AuxKind
    terminal: str


Node = PortNode | ChannelNode | AuxNode

_MODULE_RE = re.compile(r"^module(\d+)$")


def _closest(word: str, choices: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def suggest(word: str, choices: Sequence[str], what: str) -> str:
    near = _closest(word, choices)
    listed = ", ".join(choices) if choices else "none"
    return f"did you mean '{near}'? {what}: {listed}" if near else f"{what}: {listed}"


def classify_node(
    name: str, instruments: Mapping[str, InstrumentDescription], path: str
) -> Node | Diagnostic:
    """Say what ``name`` is, or why it is not a valid node."""
    if "." not in name:
        if ":" in name:
            return PortNode(name)
        return Diagnostic(
            code=ErrorCode.CONFIG_BAD_NODE,
            message=f"node '{name}' is neither an instrument port nor a device port",
            path=path,
            hint="write 'instrument.port' (e.g. 'cluster0.module1.complex_output_0') "
            "or 'element:port' (e.g. 'q0:mw')",
        )
    instrument, _, rest = name.partition(".")
    description = instruments.get(instrument)
    if description is None:
        return Diagnostic(
            code=ErrorCode.CONFIG_UNKNOWN_INSTRUMENT,
            message=f"node '{name}' names instrument '{instrument}', which is not in "
            "hardware_description",
            path=path,
            hint=suggest(instrument, sorted(instruments), "described instruments"),
        )
    if isinstance(description, ClusterDescription):
        return _classify_channel(name, instrument, rest, description, path)
    kind: AuxKind = (
        "IQMixer"
        if isinstance(description, IQMixerDescription)
        else "OpticalModulator"
        if isinstance(description, OpticalModulatorDescription)
        else "LocalOscillator"
    )
    assert isinstance(
        description,
        IQMixerDescription | OpticalModulatorDescription | LocalOscillatorDescription,
    )
    if not rest or "." in rest:
        return Diagnostic(
            code=ErrorCode.CONFIG_BAD_NODE,
            message=f"node '{name}' is not of the form '{instrument}.<port>'",
            path=path,
            hint=f"ports of an {kind}: {', '.join(AUX_TERMINALS[kind])}",
        )
    return AuxNode(instrument, kind, rest)


def _classify_channel(
    name: str, cluster: str, rest: str, description: ClusterDescription, path: str
) -> Node | Diagnostic:
    parts = rest.split(".")
    match = _MODULE_RE.match(parts[0])
    if len(parts) != 2 or match is None:
        return Diagnostic(
            code=ErrorCode.CONFIG_BAD_NODE,
            message=f"node '{name}' is not of the form '{cluster}.module<slot>.<channel>'",
            path=path,
            hint=f"e.g. '{cluster}.module1.complex_output_0'",
        )
    slot, channel = int(match[1]), parts[1]
    if not MIN_SLOT <= slot <= MAX_SLOT:
        return Diagnostic(
            code=ErrorCode.CONFIG_SLOT_OUT_OF_RANGE,
            message=f"node '{name}': slot {slot} is out of range",
            path=path,
            hint=f"a cluster has slots {MIN_SLOT} to {MAX_SLOT}",
        )
    module = description.modules.get(slot)
    if module is None:
        slots = ", ".join(str(s) for s in sorted(description.modules)) or "none"
        return Diagnostic(
            code=ErrorCode.CONFIG_UNKNOWN_INSTRUMENT,
            message=f"node '{name}': {cluster} has no module in slot {slot}",
            path=path,
            hint=f"add it to hardware_description.{cluster}.modules; described slots: {slots}",
        )
    spec = MODULE_SPECS[module.instrument_type]
    if not spec.has_channel(channel):
        return Diagnostic(
            code=ErrorCode.CONFIG_UNKNOWN_CHANNEL,
            message=f"node '{name}': a {spec.module_type} has no channel '{channel}'",
            path=path,
            hint=suggest(channel, spec.channels, f"channels of a {spec.module_type}"),
        )
    return ChannelNode(ChannelRef(cluster, slot, module.instrument_type, channel))


# --- edges ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """One expanded edge between two classified nodes; ``index`` is its row in the graph."""

    index: int
    a: Node
    b: Node

    @property
    def path(self) -> str:
        return f"connectivity.graph[{self.index}]"


def _ends(end: str | list[str]) -> list[str]:
    return [end] if isinstance(end, str) else list(end)


def parse_links(
    connectivity: Connectivity, instruments: Mapping[str, InstrumentDescription]
) -> tuple[list[Link], list[Diagnostic]]:
    """Expand list-valued ends, classify every node, and keep the links whose both ends are
    valid. Nodes that fail classification yield one diagnostic per distinct node."""
    links: list[Link] = []
    diagnostics: list[Diagnostic] = []
    known: dict[str, Node | Diagnostic] = {}
    for index, (left, right) in enumerate(connectivity.graph):
        path = f"connectivity.graph[{index}]"
        for a in _ends(left):
            for b in _ends(right):
                ends: list[Node] = []
                for name in (a, b):
                    if name not in known:
                        known[name] = classify_node(name, instruments, path)
                        if isinstance(known[name], Diagnostic):
                            diagnostics.append(known[name])  # type: ignore[arg-type]
                    node = known[name]
                    if not isinstance(node, Diagnostic):
                        ends.append(node)
                if len(ends) == 2:
                    links.append(Link(index, ends[0], ends[1]))
    return links, diagnostics


def describe(node: Node) -> str:
    if isinstance(node, PortNode):
        return node.port
    if isinstance(node, ChannelNode):
        return node.ref.node
    return f"{node.instrument}.{node.terminal}"
