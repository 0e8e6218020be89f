"""From the wiring to one route per device port, with the structural checks on the way.

Reference semantics (quantify-scheduler 0.28 ``qblox_backend.py``, qblox-scheduler 1.0 the same):

- A port is driven by one output channel, directly or through an IQ mixer (``if`` from the
  channel, ``lo`` from an external LO, ``rf`` to the port); an input channel on a mixer's
  ``if`` reads the port through that mixer. As in the reference, a mixer's ports are told
  apart by what they are wired to, not by their names (an odd name is a warning).
- The only port with several outputs is the NV-centre layout: a port fed by several optical
  modulators, one per laser; the clock then selects the modulator by its (or its laser's)
  name: ``spinpump_laser`` -> clocks containing ``ge1``, ``green_laser`` -> ``ionization``,
  ``red_laser`` -> ``ge0``, as the reference documents. (Its code keeps the last modulator
  for a clock no name matches, so with one clock in use it can pick another laser.)
- A port read by inputs takes them on the module of its output. Allowed output/input sets:
  QRM ``complex_output_0 + complex_input_0``, ``real_output_i + real_input_j`` (or both real
  inputs); QRM_RF ``complex_output_0 + complex_input_0``; QRC a complex output + complex inputs.
- Version 0.1 (``_add_support_input_channel_names``): on a QRM or QRM_RF none of whose inputs
  is in use, every port on a complex output also reads ``complex_input_0`` and every port on a
  real output reads ``real_input_0`` and ``real_input_1``; when exactly one real input and no
  complex input or output is in use, the ports on real outputs read the other real input.
  Version 0.2 implies nothing. The reference evaluates "in use" over the port-clocks of one
  schedule; a route here evaluates it as if its port were the only one in use (so a port on a
  readout module's output reads the implied input even if another port is wired to that input;
  the reference drops the implied input when one schedule uses both ports).
- A QTM channel is either an input or an output, never both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..errors import Diagnostic, ErrorCode
from .channels import ChannelRef
from .description import (
    ComplexChannelDescription,
    InstrumentDescription,
    LocalOscillatorDescription,
    RealChannelDescription,
    module_channel,
)
from .graph import AuxNode, ChannelNode, Link, Node, PortNode, describe

MixerType = Literal["IQMixer", "OpticalModulator"]

OPTICAL_CLOCK_BY_LASER: tuple[tuple[str, str], ...] = (
    ("spinpump_laser", "ge1"),
    ("green_laser", "ionization"),
    ("red_laser", "ge0"),
)
"""The reference's rule tying an optical modulator (by name) to a clock (by name)."""


@dataclass(frozen=True)
class LoRef:
    """An external local oscillator (or laser) as the compiler must set it."""

    name: str
    """Its key in ``hardware_description``."""
    instrument_name: str
    """The instrument's name in the lab (``instrument_name``, else ``name``)."""
    frequency_param: str = "frequency"
    power_param: str = "power"
    power: int | None = None


@dataclass(frozen=True)
class SignalPath:
    """One way a port is driven (a module output) or read through a mixer (a module input on
    the mixer's ``if``), possibly through an IQ mixer or optical modulator with its LO."""

    channel: ChannelRef
    mixer: str | None = None
    """Name of the IQ mixer or optical modulator between channel and port, if any."""
    mixer_type: MixerType | None = None
    lo: LoRef | None = None
    """The external LO feeding that mixer."""
    mix_lo: bool = True
    """The channel's ``mix_lo`` (False: the LO runs at the clock frequency)."""
    downconverter_freq: float | None = None
    """The channel's ``downconverter_freq``."""
    marker_debug_mode_enable: bool = False


@dataclass(frozen=True)
class PortRoute:
    """Everything the compiler needs about one port."""

    port: str
    outputs: tuple[ChannelRef, ...]
    """Module channels that drive this port (through a mixer / modulator if present)."""
    inputs: tuple[ChannelRef, ...]
    """Module channels that read this port (explicit, plus implied ones in version 0.1)."""
    lo: LoRef | None
    """The external LO on the port's path (None without one, or with several paths)."""
    paths: tuple[SignalPath, ...] = ()
    """One entry per output, and per input read through a mixer, with its mixer and LO."""
    implied_inputs: tuple[ChannelRef, ...] = ()
    """The inputs that only version 0.1 implies (a subset of ``inputs``)."""
    mixer: str | None = None
    """The IQ mixer / optical modulator on the single path, if any."""
    mix_lo: bool = True
    downconverter_freq: float | None = None
    marker_debug_mode_enable: bool = False

    @property
    def is_rf(self) -> bool:
        """True when the port is driven or read by an RF module (internal LO)."""
        return any(c.is_rf for c in self.outputs + self.inputs)

    def path_for_clock(self, clock: str) -> SignalPath | None:
        """The output path serving ``clock``: the only one, or (several optical modulators) the
        one whose name matches the clock by the reference's laser rule; None if none fits."""
        if len(self.paths) <= 1:
            return self.paths[0] if self.paths else None
        for laser, clock_part in OPTICAL_CLOCK_BY_LASER:
            if clock_part in clock:
                for candidate in self.paths:
                    names = (candidate.mixer or "", candidate.lo.name if candidate.lo else "")
                    if any(laser in name for name in names):
                        return candidate
        return None


@dataclass
class _PortWiring:
    outputs: list[tuple[SignalPath, Link]] = field(default_factory=list)
    inputs: list[tuple[ChannelRef, Link]] = field(default_factory=list)
    input_paths: list[SignalPath] = field(default_factory=list)
    """Inputs that read the port through a mixer (also listed in ``inputs``)."""

    def add(self, path: SignalPath, link: Link) -> None:
        """Record a path; the same wiring written twice counts once (the reference's graph
        keeps one edge per pair of nodes)."""
        if path.channel.is_output:
            if all(p != path for p, _ in self.outputs):
                self.outputs.append((path, link))
        elif all(c != path.channel for c, _ in self.inputs):
            self.inputs.append((path.channel, link))
            if path.mixer is not None:
                self.input_paths.append(path)


def _edge_error(link: Link, why: str) -> Diagnostic:
    return Diagnostic(
        code=ErrorCode.CONFIG_BAD_VALUE,
        message=f"edge '{describe(link.a)}' - '{describe(link.b)}' {why}",
        path=link.path,
        hint="valid edges: channel - device port, channel - mixer.if, "
        "lo.output - mixer.lo, mixer.rf (modulator.out) - device port",
    )


def _role(aux: AuxNode, other: Node) -> str | None:
    """The documented name of the port of ``aux`` that ``other`` plugs into; None if that
    pairing is not routable."""
    if aux.kind == "LocalOscillator":
        if isinstance(other, AuxNode) and other.kind != "LocalOscillator":
            return "output"
        return None
    if isinstance(other, ChannelNode):
        return "if"
    if isinstance(other, AuxNode):
        return "lo" if other.kind == "LocalOscillator" else None
    return "rf" if aux.kind == "IQMixer" else "out"


def _edge_checks(links: Sequence[Link]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for link in links:
        a, b = link.a, link.b
        if {type(a), type(b)} == {ChannelNode, PortNode}:
            continue
        if type(a) is type(b) and isinstance(a, PortNode | ChannelNode):
            out.append(
                Diagnostic(
                    code=ErrorCode.CONFIG_BAD_VALUE,
                    message=f"edge '{describe(a)}' - '{describe(b)}' has no effect: it wires "
                    f"two {'device ports' if isinstance(a, PortNode) else 'module channels'}",
                    path=link.path,
                    severity="warning",
                )
            )
            continue
        ends = [(n, o) for n, o in ((a, b), (b, a)) if isinstance(n, AuxNode)]
        roles = [(n, _role(n, o)) for n, o in ends if isinstance(n, AuxNode)]
        if any(role is None for _, role in roles):
            out.append(_edge_error(link, "connects nothing the compiler can route"))
            continue
        for node, role in roles:
            if node.terminal != role:
                out.append(
                    Diagnostic(
                        code=ErrorCode.CONFIG_BAD_NODE,
                        message=f"'{describe(node)}' is wired like the {node.kind}'s '{role}' "
                        f"port but named '{node.terminal}'",
                        path=link.path,
                        hint=f"rename it '{node.instrument}.{role}'; routing goes by what is "
                        "connected, so it works as is",
                        severity="warning",
                    )
                )
    return out


def _lo_ref(name: str, description: InstrumentDescription) -> LoRef:
    assert isinstance(description, LocalOscillatorDescription)
    return LoRef(
        name=name,
        instrument_name=description.instrument_name or name,
        frequency_param=description.frequency_param,
        power_param=description.power_param,
        power=description.power,
    )


class _Builder:
    def __init__(
        self, instruments: Mapping[str, InstrumentDescription], links: Sequence[Link]
    ) -> None:
        self.instruments = instruments
        self.links = links
        self.diagnostics: list[Diagnostic] = []
        self.adjacent: dict[Node, list[tuple[Node, Link]]] = defaultdict(list)
        self._mixers: dict[str, SignalPath | None] = {}
        for link in links:
            self.adjacent[link.a].append((link.b, link))
            self.adjacent[link.b].append((link.a, link))

    def _neighbours(self, instrument: str) -> list[tuple[Node, Link]]:
        """Everything wired to any port of ``instrument``."""
        return [
            pair
            for node, pairs in self.adjacent.items()
            if isinstance(node, AuxNode) and node.instrument == instrument
            for pair in pairs
        ]

    def _path_through(self, mixer: AuxNode, port: str, link: Link) -> SignalPath | None:
        if mixer.instrument not in self._mixers:
            self._mixers[mixer.instrument] = self._resolve_mixer(mixer, port, link)
        return self._mixers[mixer.instrument]

    def _resolve_mixer(self, mixer: AuxNode, port: str, link: Link) -> SignalPath | None:
        wired = self._neighbours(mixer.instrument)
        feeds = [(n, lk) for n, lk in wired if isinstance(n, ChannelNode)]
        los = [(n, lk) for n, lk in wired if isinstance(n, AuxNode) and n.kind == "LocalOscillator"]
        what = "optical modulator" if mixer.kind == "OpticalModulator" else "IQ mixer"
        problems: list[str] = []
        if not feeds:
            problems.append(f"no module channel is wired to '{mixer.instrument}.if'")
        if not los:
            problems.append(f"no local oscillator feeds '{mixer.instrument}.lo'")
        if len(feeds) > 1:
            problems.append(f"'{mixer.instrument}.if' is wired to {len(feeds)} channels")
        if len(los) > 1:
            problems.append(f"'{mixer.instrument}.lo' is fed by {len(los)} local oscillators")
        if problems:
            self.diagnostics.append(
                Diagnostic(
                    code=ErrorCode.CONFIG_CONFLICTING_CHANNELS
                    if len(feeds) > 1 or len(los) > 1
                    else ErrorCode.CONFIG_BAD_VALUE,
                    message=f"{what} '{mixer.instrument}' reaches port '{port}' but "
                    + "; ".join(problems),
                    path=link.path,
                    hint="wire exactly: one module channel - 'mixer.if', 'lo.output' - "
                    "'mixer.lo', and the mixer's rf (modulator's out) to the port",
                )
            )
            return None
        channel_node, lo_node = feeds[0][0], los[0][0]
        assert isinstance(channel_node, ChannelNode)
        assert isinstance(lo_node, AuxNode)
        lo = _lo_ref(lo_node.instrument, self.instruments[lo_node.instrument])
        mixer_type: MixerType = "IQMixer" if mixer.kind == "IQMixer" else "OpticalModulator"
        return self._signal_path(channel_node.ref, mixer.instrument, mixer_type, lo)

    def _signal_path(
        self,
        ref: ChannelRef,
        mixer: str | None = None,
        mixer_type: MixerType | None = None,
        lo: LoRef | None = None,
    ) -> SignalPath:
        cluster = self.instruments[ref.cluster]
        module = getattr(cluster, "modules", {})[ref.slot]
        settings = module_channel(module, ref.channel)
        mix_lo, downconverter, debug = True, None, False
        if isinstance(settings, ComplexChannelDescription | RealChannelDescription):
            mix_lo, debug = settings.mix_lo, settings.marker_debug_mode_enable
        if isinstance(settings, ComplexChannelDescription):
            downconverter = settings.downconverter_freq
        return SignalPath(ref, mixer, mixer_type, lo, mix_lo, downconverter, debug)

    def wiring(self) -> dict[str, _PortWiring]:
        ports: dict[str, _PortWiring] = {}
        for link in self.links:
            for me, other in ((link.a, link.b), (link.b, link.a)):
                if not isinstance(me, PortNode):
                    continue
                wiring = ports.setdefault(me.port, _PortWiring())
                path: SignalPath | None = None
                if isinstance(other, ChannelNode):
                    path = self._signal_path(other.ref)
                elif isinstance(other, AuxNode) and other.kind != "LocalOscillator":
                    path = self._path_through(other, me.port, link)
                if path is not None:
                    wiring.add(path, link)
        return ports


def _conflicts(port: str, wiring: _PortWiring) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    outputs, inputs = wiring.outputs, wiring.inputs
    optical = all(p.mixer_type == "OpticalModulator" for p, _ in outputs)
    refs = [p.channel for p, _ in outputs] + [c for c, _ in inputs]
    if not refs:
        return out
    last_link = (inputs or outputs)[-1][1]
    if len({c.is_digital for c in refs}) > 1:
        out.append(
            Diagnostic(
                code=ErrorCode.CONFIG_CONFLICTING_CHANNELS,
                message=f"port '{port}' mixes digital and analog channels "
                f"({', '.join(c.node for c in refs)})",
                path=last_link.path,
                hint="markers and QTM channels need a port of their own (e.g. 'q0:switch')",
            )
        )
        return out
    if len(outputs) > 1 and not optical:
        names = ", ".join(describe_path(p) for p, _ in outputs)
        out.append(
            Diagnostic(
                code=ErrorCode.CONFIG_CONFLICTING_CHANNELS,
                message=f"port '{port}' is driven by {len(outputs)} outputs ({names})",
                path=outputs[1][1].path,
                hint="wire a port to one output channel; to multiplex, use several clocks "
                "on the same port",
            )
        )
        return out
    modules = {(c.cluster, c.slot) for c in refs}
    if len(modules) > 1 and not (optical and not inputs):
        out.append(
            Diagnostic(
                code=ErrorCode.CONFIG_CONFLICTING_CHANNELS,
                message=f"port '{port}' is wired to channels of different modules "
                f"({', '.join(c.node for c in refs)})",
                path=last_link.path,
                hint="the output and the inputs of a port must be on one module",
            )
        )
        return out
    pair = _pair_problem([p.channel for p, _ in outputs], [c for c, _ in inputs])
    if pair is not None:
        out.append(
            Diagnostic(
                code=ErrorCode.CONFIG_CHANNEL_PAIR,
                message=f"port '{port}': {pair}",
                path=last_link.path,
                hint="allowed: QRM complex_output_0 + complex_input_0, real_output_i + "
                "real_input_j; QRM_RF complex_output_0 + complex_input_0; QRC complex "
                "output + complex input",
            )
        )
    return out


def describe_path(path: SignalPath) -> str:
    return path.channel.node + (f" via {path.mixer}" if path.mixer else "")


def _pair_problem(outputs: list[ChannelRef], inputs: list[ChannelRef]) -> str | None:
    names = sorted({c.channel for c in inputs})
    if not inputs:
        return None
    if not outputs:
        if len(names) > 1:
            return f"read by {len(names)} inputs ({', '.join(names)}) without an output"
        return None
    output = outputs[0]
    kind = output.module_type
    joined = f"{output.channel} + {' + '.join(names)}"
    if kind == "QTM":
        return f"a QTM cannot combine an output and an input on one port ({joined})"
    if output.is_complex and all(c.is_complex for c in inputs):
        if kind in ("QRM", "QRM_RF") and names != ["complex_input_0"]:
            return f"{joined} is not an allowed pair on a {kind}"
        return None
    if output.is_real and all(c.is_real for c in inputs) and kind == "QRM":
        return None
    return f"{joined} combines channels of different modes, not allowed on a {kind}"


def _qtm_overlaps(ports: Mapping[str, _PortWiring]) -> list[Diagnostic]:
    used: dict[tuple[str, int], dict[str, dict[int, Link]]] = defaultdict(
        lambda: {"input": {}, "output": {}}
    )
    for wiring in ports.values():
        items = [(p.channel, lk) for p, lk in wiring.outputs] + wiring.inputs
        for ref, link in items:
            if ref.module_type == "QTM":
                used[(ref.cluster, ref.slot)][ref.direction].setdefault(ref.index, link)
    out: list[Diagnostic] = []
    for (cluster, slot), sides in sorted(used.items()):
        for n in sorted(sides["input"].keys() & sides["output"].keys()):
            link = max(sides["input"][n], sides["output"][n], key=lambda lk: lk.index)
            out.append(
                Diagnostic(
                    code=ErrorCode.CONFIG_CONFLICTING_CHANNELS,
                    message=f"{cluster}.module{slot}: QTM channel {n + 1} is wired both as "
                    f"digital_input_{n} and digital_output_{n}",
                    path=link.path,
                    hint="each QTM channel is either an input or an output",
                )
            )
    return out


def _implied_inputs(wiring: _PortWiring) -> list[ChannelRef]:
    """Version 0.1: the inputs a readout module's output activates, with this port alone in use."""
    outputs = [p.channel for p, _ in wiring.outputs]
    if len(outputs) != 1 or outputs[0].module_type not in ("QRM", "QRM_RF"):
        return []
    out = outputs[0]
    inputs = [c for c, _ in wiring.inputs if (c.cluster, c.slot) == (out.cluster, out.slot)]

    def make(channel: str) -> ChannelRef:
        return ChannelRef(out.cluster, out.slot, out.module_type, channel)

    if not inputs:
        if out.is_complex:
            return [make("complex_input_0")]
        if out.is_real:
            return [make("real_input_0"), make("real_input_1")]
        return []
    if out.is_real and len(inputs) == 1 and inputs[0].is_real:
        return [make(f"real_input_{1 - inputs[0].index}")]
    return []


def build_routes(
    version: str, instruments: Mapping[str, InstrumentDescription], links: Sequence[Link]
) -> tuple[dict[str, PortRoute], list[Diagnostic]]:
    """One route per device port, and every structural problem of the wiring."""
    builder = _Builder(instruments, links)
    diagnostics = _edge_checks(links)
    ports = builder.wiring()
    diagnostics += builder.diagnostics
    for port, wiring in ports.items():
        diagnostics += _conflicts(port, wiring)
    diagnostics += _qtm_overlaps(ports)
    routes: dict[str, PortRoute] = {}
    for port, wiring in ports.items():
        signal_paths = {p for p, _ in wiring.outputs} | set(wiring.input_paths)
        paths = tuple(sorted(signal_paths, key=lambda p: (p.channel, p.mixer or "")))
        explicit = {c for c, _ in wiring.inputs}
        implied = _implied_inputs(wiring) if version == "0.1" else []
        extra = tuple(sorted(set(implied) - explicit))
        single = paths[0] if len(paths) == 1 else None
        routes[port] = PortRoute(
            port=port,
            outputs=tuple(sorted({p.channel for p, _ in wiring.outputs})),
            inputs=tuple(sorted(explicit | set(extra))),
            lo=single.lo if single else None,
            paths=paths,
            implied_inputs=extra,
            mixer=single.mixer if single else None,
            mix_lo=single.mix_lo if single else True,
            downconverter_freq=single.downconverter_freq if single else None,
            marker_debug_mode_enable=single.marker_debug_mode_enable if single else False,
        )
    return routes, diagnostics
