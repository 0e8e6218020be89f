"""The daemon's TOML configuration: where it listens, which clusters and local oscillators it
owns, how it logs.

Paths in the file are relative to the file. Binding is loopback by default; a non-loopback
address must be asked for explicitly (``allow_remote = true``), because the control socket has
no authentication.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qconductor.adapters.lo import LoConfig
from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError, format_loc

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "qconductor.toml"
Seconds = Annotated[float, Field(gt=0, description="seconds")]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ControlConfig(_Closed):
    bind: str = "tcp://127.0.0.1:5710"
    allow_remote: bool = False
    max_message_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024

    @model_validator(mode="after")
    def _loopback(self) -> ControlConfig:
        parts = urlsplit(self.bind)
        if parts.scheme not in ("tcp", "ipc", "inproc"):
            raise ValueError(f"bind must be a tcp://, ipc:// or inproc:// endpoint: {self.bind}")
        if parts.scheme == "tcp" and not self.allow_remote:
            host = (parts.hostname or "").strip("[]")
            if host != "localhost" and not _is_loopback(host):
                raise ValueError(
                    f"bind {self.bind} is not a loopback address; set allow_remote = true "
                    "to listen beyond this machine (the control socket has no authentication)"
                )
        return self


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ClusterConfig(_Closed):
    """One cluster the daemon owns: ``simulated`` (the virtual lab: programs executed against a
    physics model), ``dummy`` (qblox-instruments' dummy cluster: settings validated, nothing
    executed) or ``ip`` (a real cluster)."""

    name: str
    mode: Literal["simulated", "dummy", "ip"] = "dummy"
    ip: str | None = None
    lab: Path | None = None  # simulated: the lab TOML (qubits, resonators, ports)
    pacing: bool = False  # simulated: a job takes as long as it would on hardware
    timeout_s: Seconds = 10.0

    @model_validator(mode="after")
    def _mode_fields(self) -> ClusterConfig:
        if self.mode == "ip" and not self.ip:
            raise ValueError(f"cluster {self.name!r} has mode 'ip' but no ip")
        if self.mode == "simulated" and self.lab is None:
            raise ValueError(f"cluster {self.name!r} has mode 'simulated' but no lab file")
        return self


class HardwareSection(_Closed):
    config: Path


class LogConfig(_Closed):
    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"


class JobsConfig(_Closed):
    armed_timeout_s: Seconds = 30.0  # an armed job not started by then is failed and released
    run_timeout_s: Seconds = 600.0  # a running job whose sequencers have not stopped by then
    keep_finished: Annotated[int, Field(ge=1)] = 1000  # finished jobs kept for retrieve


class DaemonConfig(_Closed):
    control: ControlConfig = ControlConfig()
    hardware: HardwareSection
    clusters: list[ClusterConfig]
    local_oscillators: list[LoConfig] = []
    """External LO instruments (``[[local_oscillators]]``), one per instrument: ``name`` is the
    hardware config's ``instrument_name`` of the LO (its key when it gives none)."""
    log: LogConfig = LogConfig()
    jobs: JobsConfig = JobsConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> DaemonConfig:
        for what, names in (
            ("clusters", [c.name for c in self.clusters]),
            ("local_oscillators", [lo.name for lo in self.local_oscillators]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what}: {', '.join(twice)} named more than once")
        return self


def load_daemon_config(path: str | Path) -> DaemonConfig:
    """Read and validate the TOML file; every problem reported with its key path."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise QconductorError(ErrorCode.CONFIG_PARSE, f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise QconductorError(ErrorCode.CONFIG_PARSE, f"{path} is not TOML: {exc}") from exc
    hardware = raw.get("hardware")
    if isinstance(hardware, dict) and isinstance(hardware.get("config"), str):
        hardware["config"] = str((path.parent / hardware["config"]).resolve())
    for cluster in raw.get("clusters") or []:
        if isinstance(cluster, dict) and isinstance(cluster.get("lab"), str):
            cluster["lab"] = str((path.parent / cluster["lab"]).resolve())
    try:
        return DaemonConfig.model_validate(raw)
    except ValidationError as exc:
        details = [
            Diagnostic(
                code=ErrorCode.CONFIG_UNKNOWN_KEY
                if e["type"] == "extra_forbidden"
                else ErrorCode.CONFIG_BAD_VALUE,
                message=e["msg"],
                path=format_loc(e["loc"]),
            )
            for e in exc.errors(include_url=False)
        ]
        raise QconductorError.from_diagnostics(
            ErrorCode.CONFIG_INVALID, f"daemon config {path}", details
        ) from None
