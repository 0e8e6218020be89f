"""``qconductor``: the command line.

    qconductor serve [--config FILE] [--bind ENDPOINT] [--ready-file FILE]
    qconductor status [--address ENDPOINT]
    qconductor submit SCHEDULE.json [--address ENDPOINT] [--timeout SECONDS] [--priority N]
                      [--ttl SECONDS] [--no-wait] [--name CLIENT]
    qconductor watch [JOB_ID] [--address ENDPOINT]
    qconductor cancel JOB_ID [--address ENDPOINT]
    qconductor config check FILE [--json] | schema | upgrade FILE
    qconductor compile SCHEDULE.json --hardware CONFIG [--out DIR] | --print-schema

Exit status: 0 success, 1 the thing checked or asked for was rejected, 2 usage or start-up error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from qconductor import __version__
from qconductor.protocol.client import DEFAULT_ADDRESS, Client
from qconductor.protocol.errors import QconductorError
from qconductor.protocol.hardware.cli import config_check, config_schema, config_upgrade
from qconductor.protocol.schedule import Schedule


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qconductor", description=__doc__.split("\n\n")[0])
    p.add_argument("--version", action="version", version=f"qconductor {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the daemon")
    serve.add_argument("--config", type=Path, help="daemon TOML (default: config/qconductor.toml)")
    serve.add_argument("--bind", help="control endpoint, e.g. tcp://127.0.0.1:0 for any port")
    serve.add_argument("--ready-file", type=Path, help="write the endpoints here when listening")
    serve.add_argument("--log-format", choices=("console", "json"))

    status = sub.add_parser("status", help="ask a running daemon how it is")
    status.add_argument("--address", default=DEFAULT_ADDRESS)

    cancel = sub.add_parser("cancel", help="cancel a job (a running one is stopped)")
    cancel.add_argument("job_id")
    cancel.add_argument("--address", default=DEFAULT_ADDRESS)

    submit = sub.add_parser("submit", help="run a schedule (JSON file) and print acquisitions")
    submit.add_argument("schedule", type=Path)
    submit.add_argument("--address", default=DEFAULT_ADDRESS)
    submit.add_argument("--timeout", type=float, default=60.0, help="seconds")
    submit.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")
    submit.add_argument("--ttl", type=float, help="drop the job if not started within SECONDS")
    submit.add_argument("--name", help="client name: the queue's fair share (default: this run)")
    submit.add_argument(
        "--no-wait", action="store_true", help="print the job id and return; see watch"
    )

    watch = sub.add_parser("watch", help="follow a job to its end (or the daemon's status)")
    watch.add_argument("job_id", nargs="?")
    watch.add_argument("--address", default=DEFAULT_ADDRESS)

    config = sub.add_parser("config", help="hardware compilation config tools")
    csub = config.add_subparsers(dest="config_command", required=True)
    check = csub.add_parser("check", help="validate a hardware config (exit 1 when invalid)")
    check.add_argument("file")
    check.add_argument("--json", action="store_true", help="diagnostics as JSON")
    csub.add_parser("schema", help="print the hardware config JSON Schema")
    upgrade = csub.add_parser("upgrade", help="turn a version 0.1 config into 0.2")
    upgrade.add_argument("file")

    comp = sub.add_parser("compile", help="compile a schedule offline and write the programs")
    comp.add_argument("schedule", nargs="?", help="schedule JSON file")
    comp.add_argument("--hardware", help="hardware compilation config JSON file")
    comp.add_argument("--out", help="output directory (default: compiled/<schedule name>)")
    comp.add_argument("--print-schema", action="store_true", help="print the compiled-job schema")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        match args.command:
            case "serve":
                return _serve(args)
            case "status":
                with Client(args.address, timeout_s=10.0) as client:
                    print(json.dumps(client.status(), indent=2, default=str))
                return 0
            case "submit":
                return _submit(args)
            case "watch":
                from qconductor.daemon.watch import watch_daemon, watch_job

                with Client(args.address, timeout_s=10.0) as client:
                    if args.job_id is None:
                        return watch_daemon(client)
                    return watch_job(client, args.job_id)
            case "cancel":
                with Client(args.address, timeout_s=10.0) as client:
                    print(f"job {args.job_id}: {client.cancel(args.job_id).state}")
                return 0
            case "config":
                return _config(args)
            case "compile":
                from qconductor.daemon.compile_cmd import compile_cli

                return compile_cli(
                    args.schedule, args.hardware, args.out, print_schema=args.print_schema
                )
    except QconductorError as exc:
        print(f"qconductor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: no traceback; a job submitted goes on
        return 130
    except BrokenPipeError:  # `qconductor status | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 2


def _serve(args: argparse.Namespace) -> int:
    from qconductor.daemon.app import run
    from qconductor.daemon.config import DEFAULT_CONFIG, load_daemon_config
    from qconductor.daemon.logs import configure_logging

    try:
        config = load_daemon_config(args.config or DEFAULT_CONFIG)
        updates: dict[str, Any] = {}
        if args.bind:
            updates["control"] = {**config.control.model_dump(), "bind": args.bind}
        if args.log_format:
            updates["log"] = {**config.log.model_dump(), "format": args.log_format}
        config = config.model_validate({**config.model_dump(), **updates})
    except (QconductorError, ValidationError) as exc:
        print(f"qconductor: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log.format, config.log.level)
    return run(config, ready_file=args.ready_file)


def _submit(args: argparse.Namespace) -> int:
    schedule = Schedule.model_validate_json(args.schedule.read_text())
    options: dict[str, Any] = {"priority": args.priority, "ttl_s": args.ttl}
    with Client(args.address, timeout_s=args.timeout, name=args.name) as client:
        if args.no_wait:
            job = client.enqueue(schedule, **options)
            print(f"job {job.job_id}: {job.state}")
            return 0
        result = client.submit(schedule, timeout_s=args.timeout, **options)
    print(f"job {result.job_id}: {result.state}")
    with np.printoptions(precision=5, suppress=True, threshold=20):
        for channel, data in sorted(result.acquisitions.items()):
            print(f"  acq_channel {channel}: {data}")
    return 0


def _config(args: argparse.Namespace) -> int:
    match args.config_command:
        case "check":
            code, text = config_check(args.file, as_json=args.json)
            print(text)
            return code
        case "schema":
            print(config_schema())
            return 0
        case "upgrade":
            code, out, err = config_upgrade(args.file)
            if err:
                print(err, file=sys.stderr)
            print(out)
            return code
    return 2
