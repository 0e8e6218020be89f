"""Lab parameters of the simulated lab: which qubits and readout resonators exist, and which
hardware port reaches each. One TOML file per lab (``config/labs/*.toml``), read by
:func:`load_lab` into closed pydantic models.

Units are SI: frequencies in Hz, times in seconds. Frequencies are the ones *seen by the cluster*:
with no LO the drive frequency is the NCO frequency, so a lab behind a baseband module has qubits
at tens of MHz, and a negative frequency is a qubit reached by the lower sideband (the NCO runs at
a negative frequency). What :mod:`.physics` needs is only the difference between the carrier
(NCO + LO) and these frequencies.

Conventions (the physics model relies on them):

- ``Resonator.frequency`` is the resonator's frequency with its qubit in ``|0>``; with the qubit
  in ``|1>`` it sits at ``frequency - dispersive_shift``. ``dispersive_shift`` is therefore the
  full state-dependent pull (``2 chi`` in the symmetric convention ``f_r +- chi``).
- ``Qubit.rabi_frequency_per_amplitude`` is the Rabi frequency (Hz, not rad/s) of a resonant
  drive at amplitude 1.0 of full scale; it scales linearly with amplitude.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError, format_loc

__all__ = ["DEFAULT_LAB", "Lab", "Qubit", "Resonator", "load_lab"]

DEFAULT_LAB = Path(__file__).resolve().parents[3] / "config" / "labs" / "default.toml"

Hz = Annotated[float, Field(allow_inf_nan=False, description="Hz")]
PositiveHz = Annotated[float, Field(gt=0, allow_inf_nan=False, description="Hz")]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False, description="seconds")]
Port = Annotated[str, Field(min_length=1)]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Qubit(_Closed):
    """A transmon, modelled as a two-level system (see :mod:`.physics` for what that leaves out)."""

    frequency: Hz
    """The 0-1 transition frequency as seen by the drive line (carrier = NCO + LO)."""
    anharmonicity: Hz
    """f12 - f01 (negative for a transmon). Recorded, unused by the two-level model."""
    t1: Seconds
    """Energy relaxation time."""
    t2: Seconds
    """Coherence time (Ramsey, T2*); at most 2 T1."""
    rabi_frequency_per_amplitude: PositiveHz
    """Rabi frequency of a resonant drive at amplitude 1.0 of full scale."""
    drive_port: Port
    """The hardware config port that drives this qubit (``"q0:mw"``)."""

    @model_validator(mode="after")
    def _t2_bound(self) -> Qubit:
        if self.t2 > 2 * self.t1:
            raise ValueError(f"t2 ({self.t2:g} s) exceeds 2 * t1 ({2 * self.t1:g} s)")
        return self


class Resonator(_Closed):
    """A readout resonator coupled dispersively to one qubit, seen in transmission as a dip."""

    qubit: str
    """The key of the qubit it reads out (``"q0"``)."""
    port: Port
    """The hardware config port that probes it (``"q0:res"``)."""
    frequency: Hz
    """Resonance with the qubit in ``|0>``, as seen by the readout module (NCO + LO)."""
    linewidth: PositiveHz
    """Full width at half depth, kappa / 2 pi (Hz)."""
    dispersive_shift: Hz
    """With the qubit in ``|1>`` the resonance sits at ``frequency - dispersive_shift``."""
    response_amplitude: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    """IQ magnitude far off resonance for a full-scale probe (the same unit as noise_sigma)."""


class Lab(_Closed):
    """One simulated lab: its qubits, their readout resonators, and the readout noise."""

    seed: Annotated[int, Field(ge=0)]
    """Seed of every random draw: one lab, one seed, one sequence of results."""
    noise_sigma: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    """Standard deviation per quadrature (I and Q each) of one shot's integrated IQ value."""
    qubits: dict[str, Qubit]
    resonators: dict[str, Resonator]

    @model_validator(mode="after")
    def _references(self) -> Lab:
        diagnostics = _cross_check(self)
        if diagnostics:
            first = diagnostics[0]
            raise QconductorError(
                ErrorCode.CONFIG_INVALID,
                f"lab rejected: {first.message}",
                first.path,
                details=diagnostics,
            )
        return self

    def qubit_on_port(self, port: str) -> str | None:
        """The key of the qubit driven through ``port``, or None."""
        return next((k for k, q in self.qubits.items() if q.drive_port == port), None)

    def resonator_on_port(self, port: str) -> str | None:
        """The key of the resonator probed through ``port``, or None."""
        return next((k for k, r in self.resonators.items() if r.port == port), None)


def _cross_check(lab: Lab) -> list[Diagnostic]:
    """References between entries: resonators name existing qubits; ports are not shared."""
    out: list[Diagnostic] = []
    drive_seen: dict[str, str] = {}
    for name, qubit in lab.qubits.items():
        other = drive_seen.setdefault(qubit.drive_port, name)
        if other != name:
            out.append(_bad(f"qubits.{name}.drive_port", f"port also drives qubit {other!r}"))
    read_seen: dict[str, str] = {}
    for name, res in lab.resonators.items():
        if res.qubit not in lab.qubits:
            known = ", ".join(sorted(lab.qubits)) or "none"
            out.append(_bad(f"resonators.{name}.qubit", f"no qubit {res.qubit!r} (have {known})"))
        other = read_seen.setdefault(res.port, name)
        if other != name:
            out.append(_bad(f"resonators.{name}.port", f"port also probes resonator {other!r}"))
    return out


def _bad(path: str, message: str) -> Diagnostic:
    return Diagnostic(code=ErrorCode.CONFIG_BAD_VALUE, message=message, path=path)


def _code(error_type: str) -> ErrorCode:
    if error_type == "extra_forbidden":
        return ErrorCode.CONFIG_UNKNOWN_KEY
    if error_type == "missing":
        return ErrorCode.CONFIG_MISSING_KEY
    return ErrorCode.CONFIG_BAD_VALUE


def load_lab(path: str | Path = DEFAULT_LAB) -> Lab:
    """Read and validate a lab TOML file; every problem is reported with its key path.

    Raises :class:`QconductorError` with ``CONFIG_PARSE`` (unreadable, not TOML) or
    ``CONFIG_INVALID`` (``details`` holds one diagnostic per problem, each with its path)."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise QconductorError(ErrorCode.CONFIG_PARSE, f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise QconductorError(ErrorCode.CONFIG_PARSE, f"{path} is not TOML: {exc}") from exc
    try:
        return Lab.model_validate(raw)
    except ValidationError as exc:
        details = [
            Diagnostic(code=_code(e["type"]), message=e["msg"], path=format_loc(e["loc"]))
            for e in exc.errors(include_url=False)
        ]
    except QconductorError as exc:
        details = list(exc.details)
    first = details[0]
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    raise QconductorError(
        ErrorCode.CONFIG_INVALID,
        f"lab {path} rejected: {first.message}{more}",
        first.path,
        details=details,
    )
