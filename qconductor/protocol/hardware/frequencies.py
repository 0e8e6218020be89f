"""Splitting a clock frequency into NCO (IF) and LO frequencies, as the reference does.

Read from quantify-scheduler 0.28: ``backends/qblox/helpers.py``
(``determine_clock_lo_interm_freqs``) and ``backends/qblox/analog.py`` (``assign_frequencies`` of
the baseband and RF module compilers, ``AnalogSequencerSettings`` for ``nco_en``):

1. Baseband module, no external LO on the path: the module outputs the NCO frequency itself, so
   ``nco = clock``. ``interm_freq`` may be omitted or equal to the clock; ``interm_freq: 0``
   disables the NCO (no modulation; the clock frequency is then not used). ``lo_freq`` and
   ``downconverter_freq`` play no part.
2. With an LO (an external LO through an IQ mixer / optical modulator, or the internal LO of an
   RF module): first ``rf = downconverter_freq - clock`` when a downconverter is configured
   (it must be >= 0 and >= the clock), else ``rf = clock``. Then ``rf = LO + IF``:
   both given -> they must add up to ``rf``; one given -> the other follows; none -> error.
3. ``mix_lo: false`` (external LO, baseband channel): the LO runs at ``rf`` and ``interm_freq``
   must be given (the NCO frequency then is that IF, not mixed with the LO).
4. The NCO is enabled unless ``interm_freq`` is 0 (the QRC always enables it).

Frequencies compare with ``math.isclose`` (relative tolerance 1e-9), as in the reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..errors import ErrorCode, QconductorError
from .channels import ChannelRef
from .routing import PortRoute, SignalPath
from .views import PortClockOptions

LoKind = Literal["none", "external", "internal"]


@dataclass(frozen=True)
class FrequencyPlan:
    """The frequencies the compiler sets for one port-clock."""

    nco_freq: float
    """NCO (IF) frequency in Hz; 0.0 when the NCO is disabled."""
    lo_freq: float | None
    """LO frequency in Hz (external LO or internal LO of an RF module); None without an LO."""
    nco_enabled: bool = True
    """False when ``interm_freq`` is 0 (or for digital channels)."""
    rf_freq: float | None = None
    """The frequency LO + IF must produce: the clock, or the clock seen through the
    downconverter. None without an LO."""
    lo_kind: LoKind = "none"
    lo_name: str | None = None
    """The external LO's key in hardware_description, when ``lo_kind`` is "external"."""


def _hz(value: float) -> str:
    return f"{value:.9g} Hz"


def _fail(message: str, path: str, hint: str) -> QconductorError:
    return QconductorError(ErrorCode.CONFIG_FREQUENCY_INCONSISTENT, message, path, hint=hint)


def _channel(route: PortRoute, output: SignalPath | None) -> ChannelRef | None:
    if output is not None:
        return output.channel
    if route.outputs:
        return route.outputs[0]
    return route.inputs[0] if route.inputs else None


@dataclass(frozen=True)
class _Problem:
    """What the solver needs, gathered once: frequencies in Hz, names for messages."""

    clock: float
    interm: float | None
    lo: float | None
    where: str
    path: str


def _baseband(p: _Problem) -> FrequencyPlan:
    """No LO: the module outputs the NCO frequency itself."""
    if p.interm == 0:
        return FrequencyPlan(nco_freq=0.0, lo_freq=None, nco_enabled=False)
    if p.interm is not None and not math.isclose(p.interm, p.clock):
        raise _fail(
            f"{p.where}: interm_freq {_hz(p.interm)} differs from the clock frequency "
            f"{_hz(p.clock)}; a baseband module without an LO outputs the NCO frequency itself",
            p.path,
            "omit interm_freq, set it to the clock frequency, or add an IQ mixer and LO",
        )
    return FrequencyPlan(nco_freq=p.clock, lo_freq=None)


def _downconvert(p: _Problem, downconverter: float | None) -> float:
    if downconverter is None:
        return p.clock
    if downconverter < 0 or downconverter < p.clock:
        raise _fail(
            f"{p.where}: downconverter_freq {_hz(downconverter)} must be positive and at "
            f"least the clock frequency {_hz(p.clock)}",
            p.path,
            "the downconverter outputs downconverter_freq - input; check both frequencies",
        )
    return downconverter - p.clock


def _split(p: _Problem, rf: float, mix_lo: bool, kind: LoKind) -> tuple[float, float]:
    """(IF, LO) with ``rf = LO + IF``, or with the LO at ``rf`` when not mixed."""
    interm, lo = p.interm, p.lo
    if not mix_lo:
        if interm is None:
            raise _fail(
                f"{p.where}: with mix_lo false the LO runs at {_hz(rf)} and interm_freq must "
                "be given",
                p.path,
                "set modulation_frequencies.interm_freq for this port-clock",
            )
        return interm, rf
    if interm is None and lo is None:
        raise _fail(
            f"{p.where}: neither interm_freq nor lo_freq is given, so the {kind} LO and the "
            f"NCO cannot be derived from the clock frequency {_hz(p.clock)}",
            p.path,
            "give interm_freq or lo_freq (RF = LO + IF)",
        )
    if interm is not None and lo is not None:
        if not math.isclose(lo + interm, rf):
            raise _fail(
                f"{p.where}: lo_freq {_hz(lo)} + interm_freq {_hz(interm)} = "
                f"{_hz(lo + interm)}, but the clock needs {_hz(rf)}",
                p.path,
                "give only one of interm_freq and lo_freq, or make them add up to the clock "
                "frequency",
            )
        return interm, lo
    if interm is not None:
        return interm, rf - interm
    assert lo is not None
    return rf - lo, lo


def solve_frequencies(
    clock_freq: float,
    route: PortRoute,
    options: PortClockOptions,
    *,
    path: str,
    output: SignalPath | None = None,
) -> FrequencyPlan:
    """Work out the NCO and LO frequencies for ``options.port`` with a clock at ``clock_freq``.

    ``path`` names the config entry blamed on failure (normally
    ``options.path("modulation_frequencies")``). ``output`` picks the signal path when the port
    has several (NV centre); by default the path serving ``options.clock``.

    Raises ``QconductorError(CONFIG_FREQUENCY_INCONSISTENT)`` when IF and LO are both given and
    do not add up to the clock, when neither can be derived, or when the downconverter cannot
    produce the clock.
    """
    if output is None:
        output = route.path_for_clock(options.clock)
    channel = _channel(route, output)
    if channel is None or channel.is_digital:
        return FrequencyPlan(nco_freq=0.0, lo_freq=None, nco_enabled=False)
    problem = _Problem(
        clock_freq,
        options.interm_freq,
        options.lo_freq,
        f"port '{route.port}' with clock '{options.clock}'",
        path,
    )
    external = output.lo if output is not None else None
    if not channel.is_rf and external is None:
        return _baseband(problem)
    source = output if output is not None else route
    rf = _downconvert(problem, source.downconverter_freq)
    kind: LoKind = "internal" if channel.is_rf else "external"
    nco, lo = _split(problem, rf, channel.is_rf or source.mix_lo, kind)
    return FrequencyPlan(
        nco_freq=nco,
        lo_freq=lo,
        nco_enabled=options.interm_freq != 0 or channel.module_type == "QRC",
        rf_freq=rf,
        lo_kind=kind,
        lo_name=external.name if external is not None and kind == "external" else None,
    )
