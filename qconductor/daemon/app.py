"""The daemon process: one root task group owning every service, and a safe shutdown.

Start-up order: logging, configs (an invalid one stops the start with its diagnostics), the
instruments (clusters and external local oscillators, opened in their own threads), the data
socket, then the control socket; only when both listen is readiness announced (a line on
stdout naming both endpoints and, if asked, a ready file with them). SIGHUP reloads the
hardware config.

The stop sequence (SIGINT, SIGTERM), each step with a deadline, so that it ends within
:func:`stop_deadline_s` of the signal (the systemd unit's ``TimeoutStopSec`` must be longer):

1. the queue is closed (jobs not started are cancelled), every job on the hardware is stopped
   (its clusters at once, each within ``[instrument] call_timeout_s``) and marked cancelled,
   while the data socket still publishes the change (:meth:`Service.shutdown`);
2. the clients waiting for those jobs get their replies (at most ``REPLY_DRAIN_S``);
3. the root group is cancelled: the sockets close (the data socket sends what it still has
   queued for at most ``PUBLISHER_LINGER_S``);
4. every instrument is closed, all at once, then the compile workers are ended, within
   ``SHUTDOWN_TIMEOUT_S``.

Under systemd (``Type=notify``) readiness, watchdog keep-alives from the event loop and
stopping are reported through ``NOTIFY_SOCKET``.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import signal
import sys
from pathlib import Path

import anyio
import structlog
import zmq
import zmq.asyncio

from qconductor import __version__
from qconductor.adapters.base import InstrumentAdapter
from qconductor.adapters.lo import LocalOscillatorAdapter
from qconductor.adapters.qblox.instrument import QbloxClusterAdapter
from qconductor.adapters.virtual.adapter import VirtualClusterAdapter
from qconductor.adapters.virtual.lab import load_lab
from qconductor.daemon.config import DaemonConfig
from qconductor.daemon.instruments import FLAGS_TIMEOUT_S
from qconductor.daemon.pool import Compiler
from qconductor.daemon.server import ControlServer
from qconductor.daemon.service import Service
from qconductor.daemon.streams import StreamPublisher
from qconductor.daemon.systemd import Notifier
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, ModuleType, load_hardware_config
from qconductor.protocol.hardware.description import LocalOscillatorDescription

log = structlog.get_logger("qconductor.daemon")
SHUTDOWN_TIMEOUT_S = 10.0  # closing the instruments, then ending the compile workers
PUBLISHER_LINGER_S = 1.0  # the data socket's last messages (the jobs cancelled by the stop)
REPLY_DRAIN_S = 1.0  # the control socket's replies to clients waiting for those jobs


def stop_deadline_s(config: DaemonConfig) -> float:
    """The longest the stop sequence takes, from the signal to the process's exit (each step's
    deadline, plus a second for the rest)."""
    jobs = config.instrument.call_timeout_s + 2 * FLAGS_TIMEOUT_S + 1.0  # Service.stop_timeout_s
    return jobs + REPLY_DRAIN_S + PUBLISHER_LINGER_S + SHUTDOWN_TIMEOUT_S + 1.0


def build_adapters(config: DaemonConfig, hardware: HardwareConfig) -> dict[str, InstrumentAdapter]:
    modules: dict[str, dict[int, ModuleType]] = {}
    for cluster, slot, module_type in hardware.modules():
        modules.setdefault(cluster, {})[slot] = module_type
    adapters: dict[str, InstrumentAdapter] = {}
    for cluster_cfg in config.clusters:
        if cluster_cfg.name not in modules:
            raise QconductorError(
                ErrorCode.CONFIG_INVALID,
                f"the daemon config names cluster {cluster_cfg.name!r}, which the hardware "
                f"config does not describe (it has {', '.join(sorted(modules)) or 'none'})",
                "clusters",
            )
        if cluster_cfg.mode == "simulated":
            assert cluster_cfg.lab is not None  # the config model requires it
            adapters[cluster_cfg.name] = VirtualClusterAdapter(
                cluster_cfg.name,
                modules[cluster_cfg.name],
                load_lab(cluster_cfg.lab),
                pacing=cluster_cfg.pacing,
                faults=cluster_cfg.faults,
            )
            continue
        adapters[cluster_cfg.name] = QbloxClusterAdapter(
            cluster_cfg.name,
            dummy_modules=modules[cluster_cfg.name] if cluster_cfg.mode == "dummy" else None,
            ip=cluster_cfg.ip,
            timeout_s=cluster_cfg.timeout_s,
        )
    return adapters


def build_local_oscillators(
    config: DaemonConfig, hardware: HardwareConfig
) -> dict[str, LocalOscillatorAdapter]:
    """One adapter per ``[[local_oscillators]]`` entry. An LO of the hardware config without an
    entry is only warned about: jobs that need it fail when armed (INSTRUMENT_MISMATCH)."""
    adapters = {lo.name: LocalOscillatorAdapter(lo) for lo in config.local_oscillators}
    for name, description in hardware.hardware_description.items():
        if isinstance(description, LocalOscillatorDescription):
            instrument = description.instrument_name or name
            if instrument not in adapters and name not in adapters:
                log.warning(
                    "no [[local_oscillators]] entry for a local oscillator of the hardware "
                    "config; jobs using it will fail",
                    lo=name,
                    instrument=instrument,
                )
    return adapters


async def serve(config: DaemonConfig, *, ready_file: Path | None = None) -> None:
    hardware = load_hardware_config(config.hardware.config)
    for warning in hardware.warnings:
        log.warning("hardware config", diagnostic=str(warning))
    adapters = build_adapters(config, hardware)
    oscillators = build_local_oscillators(config, hardware)
    context = zmq.asyncio.Context()
    systemd = Notifier()
    streams = config.streams
    publisher = StreamPublisher(
        streams.bind,
        sndhwm=streams.sndhwm,
        buffer_bytes_per_job=streams.buffer_bytes_per_job,
        max_jobs_buffered=streams.max_jobs_buffered,
        linger_s=PUBLISHER_LINGER_S,
        # its own context (two I/O threads): sharing the control socket's one I/O thread lost
        # frames at 4 x 250 MB/s and would queue control replies behind the data (bench/README)
    )
    compile_cfg = config.compile
    compiler = Compiler(
        workers=compile_cfg.workers,
        pool_min_operations=compile_cfg.pool_min_operations,
        cache_size=compile_cfg.cache_size,
    )
    service: Service | None = None
    try:
        async with anyio.create_task_group() as tg:
            for adapter in adapters.values():
                await adapter.open()
            for lo in oscillators.values():
                await lo.open()
            service = Service(
                config, hardware, adapters, tg, oscillators, publisher=publisher, compiler=compiler
            )
            # What start-up made (modules, the driver, configs) lives as long as the daemon: out
            # of the collector's sight, a full collection takes ~1 ms instead of ~40 ms.
            gc.collect()
            gc.freeze()
            tg.start_soon(service.loop_lag.run)
            data = await tg.start(publisher.run)
            tg.start_soon(service.publish_status)
            server = ControlServer(
                context,
                config.control.bind,
                service.handle,
                max_bytes=config.control.max_message_bytes,
            )
            endpoint = await tg.start(server.serve)
            tg.start_soon(_handle_signals, tg.cancel_scope, service, server, systemd)
            _announce(endpoint, data, ready_file)
            systemd.ready(f"listening on {endpoint}, publishing on {data}")
            tg.start_soon(systemd.watchdog)
    finally:
        systemd.stopping()
        if service is not None:
            service.close()
        with anyio.CancelScope(shield=True), anyio.move_on_after(SHUTDOWN_TIMEOUT_S):
            await _close_instruments(adapters, oscillators)
            await compiler.aclose()
        context.destroy(linger=0)
        systemd.close()
        log.info("stopped")


def _announce(endpoint: str, data: str, ready_file: Path | None) -> None:
    print(
        f"qconductor {__version__} listening on {endpoint} publishing on {data} "
        f"(pid {os.getpid()})",
        flush=True,
    )
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"control": endpoint, "data": data, "pid": os.getpid()}))
        tmp.replace(ready_file)  # atomic: a reader never sees half a file


async def _close_instruments(
    adapters: dict[str, InstrumentAdapter], oscillators: dict[str, LocalOscillatorAdapter]
) -> None:
    """Close every instrument at once (one that hangs delays none of the others)."""

    async def close(
        what: str, name: str, instrument: InstrumentAdapter | LocalOscillatorAdapter
    ) -> None:
        try:
            await instrument.close()
        except Exception:
            log.exception("closing instrument failed", **{what: name})

    async with anyio.create_task_group() as tg:
        for name, adapter in adapters.items():
            tg.start_soon(close, "cluster", name, adapter)
        for name, lo in oscillators.items():
            tg.start_soon(close, "lo", name, lo)


async def _handle_signals(
    scope: anyio.CancelScope, service: Service, server: ControlServer, systemd: Notifier
) -> None:
    """SIGINT/SIGTERM: the stop sequence. SIGHUP: reload the hardware config."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                await service.reload_hardware()
                continue
            log.info("signal, shutting down", signal=signal.Signals(signum).name)
            systemd.stopping()
            await service.shutdown()
            await server.drain(REPLY_DRAIN_S)
            scope.cancel()
            return


def run(config: DaemonConfig, *, ready_file: Path | None = None) -> int:
    """Serve until a signal; 2 when start-up is refused (invalid config, instrument error)."""
    refused: list[QconductorError] = []
    try:
        anyio.run(functools.partial(serve, config, ready_file=ready_file), backend="asyncio")
    except* QconductorError as group:
        refused.extend(e for e in group.exceptions if isinstance(e, QconductorError))
    for exc in refused:
        print(f"qconductor: {exc}", file=sys.stderr)
    return 2 if refused else 0
