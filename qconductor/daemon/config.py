"""The daemon's TOML configuration: where it listens, which clusters and local oscillators it
owns, how it compiles, queues and logs.

Paths in the file are relative to the file. Both sockets bind to loopback by default; a
non-loopback address must be asked for explicitly (``allow_remote = true``), because neither
socket has authentication. ``tcp://127.0.0.1:0`` binds an ephemeral port (the daemon prints
the one it got).
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from qconductor.adapters.lo import LoConfig
from qconductor.adapters.virtual.adapter import Fault
from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError, format_loc

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "qconductor.toml"
Seconds = Annotated[float, Field(gt=0, description="seconds")]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_bind(bind: str, allow_remote: bool, what: str) -> None:
    parts = urlsplit(bind)
    if parts.scheme not in ("tcp", "ipc", "inproc"):
        raise ValueError(f"bind must be a tcp://, ipc:// or inproc:// endpoint: {bind}")
    if parts.scheme == "tcp" and not allow_remote:
        host = (parts.hostname or "").strip("[]")
        if host != "localhost" and not _is_loopback(host):
            raise ValueError(
                f"bind {bind} is not a loopback address; set allow_remote = true "
                f"to listen beyond this machine (the {what} has no authentication)"
            )


class ControlConfig(_Closed):
    bind: str = "tcp://127.0.0.1:5710"
    allow_remote: bool = False
    # ZeroMQ drops a peer that sends more (ZMQ_MAXMSGSIZE): no reply, the daemon serves on
    max_message_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024 * 1024

    @model_validator(mode="after")
    def _loopback(self) -> ControlConfig:
        _check_bind(self.bind, self.allow_remote, "control socket")
        return self


class StreamsConfig(_Closed):
    """The data socket (PUB): job states, acquisitions and the periodic status."""

    bind: str = "tcp://127.0.0.1:5711"
    allow_remote: bool = False
    status_interval_s: Seconds = 1.0
    sndhwm: Annotated[int, Field(ge=1)] = 64  # messages queued per subscriber, then dropped
    buffer_bytes_per_job: Annotated[int, Field(ge=0)] = 64 * 2**20  # kept for replay
    max_jobs_buffered: Annotated[int, Field(ge=1)] = 8

    @model_validator(mode="after")
    def _loopback(self) -> StreamsConfig:
        _check_bind(self.bind, self.allow_remote, "data socket")
        return self


class CompileConfig(_Closed):
    workers: Annotated[int, Field(ge=0, le=64)] = 2  # process-pool size; 0: no pool
    pool_min_operations: Annotated[int, Field(ge=0)] = 100_000  # smaller: in a thread
    pipeline_depth: Annotated[int, Field(ge=1, le=64)] = 2  # jobs compiled ahead, per cluster
    cache_size: Annotated[int, Field(ge=0)] = 256  # compiled jobs kept by content hash


class QueueConfig(_Closed):
    strict_priority: bool = False  # false: a waiting job gains a priority level per aging_s
    aging_s: Seconds = 10.0


class InstrumentConfig(_Closed):
    call_timeout_s: Seconds = 10.0  # every arm, start, retrieve and stop call of a job


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
    faults: list[Fault] = []  # simulated, for tests only: stages that raise or hang
    timeout_s: Seconds = 10.0

    @model_validator(mode="after")
    def _mode_fields(self) -> ClusterConfig:
        if self.mode == "ip" and not self.ip:
            raise ValueError(f"cluster {self.name!r} has mode 'ip' but no ip")
        if self.mode == "simulated" and self.lab is None:
            raise ValueError(f"cluster {self.name!r} has mode 'simulated' but no lab file")
        if self.faults and self.mode != "simulated":
            raise ValueError(f"cluster {self.name!r}: faults are for simulated clusters only")
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
    streams: StreamsConfig = StreamsConfig()
    hardware: HardwareSection
    clusters: list[ClusterConfig]
    local_oscillators: list[LoConfig] = []
    """External LO instruments (``[[local_oscillators]]``), one per instrument: ``name`` is the
    hardware config's ``instrument_name`` of the LO (its key when it gives none)."""
    log: LogConfig = LogConfig()
    jobs: JobsConfig = JobsConfig()
    compile: CompileConfig = CompileConfig()
    queue: QueueConfig = QueueConfig()
    instrument: InstrumentConfig = InstrumentConfig()

    @model_validator(mode="after")
    def _unique_names(self) -> DaemonConfig:
        for what, names in (
            ("clusters", [c.name for c in self.clusters]),
            ("local_oscillators", [lo.name for lo in self.local_oscillators]),
        ):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what}: {', '.join(twice)} named more than once")
        if self.control.bind == self.streams.bind and not self.control.bind.endswith(":0"):
            raise ValueError(f"control and streams both bind {self.control.bind}")
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
