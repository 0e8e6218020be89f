"""The files that ship with the daemon agree with it: the example TOML documents every key of
the daemon config with loopback defaults, and the systemd unit gives the daemon's own stop
sequence the time it needs."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from pydantic import BaseModel

from qconductor.daemon.app import stop_deadline_s
from qconductor.daemon.config import DEFAULT_CONFIG, DaemonConfig, load_daemon_config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "qconductor.service"


def _sections(text: str) -> dict[str, str]:
    """TOML text by table, a commented-out ``# [[table]]`` header counting as one."""
    sections: dict[str, str] = {"": ""}
    current = ""
    for line in text.splitlines():
        header = re.match(r"^#?\s*\[\[?([a-z_]+)\]\]?\s*$", line)
        if header:
            current = header[1]
            sections.setdefault(current, "")
        else:
            sections[current] += line + "\n"
    return sections


def _model_of(annotation: object) -> type[BaseModel] | None:
    """The model a field holds, itself or in a list."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _documented(key: str, text: str) -> bool:
    return re.search(rf"(^|[#{{,\s]){key}\s*=", text, re.MULTILINE) is not None


def test_the_example_config_documents_every_key() -> None:
    text = DEFAULT_CONFIG.read_text()
    sections = _sections(text)
    missing: list[str] = []
    for name, field in DaemonConfig.model_fields.items():
        model = _model_of(field.annotation)
        if model is None:
            continue
        assert name in sections, f"no [{name}] table in {DEFAULT_CONFIG.name}"
        for key, sub in model.model_fields.items():
            if not _documented(key, sections[name]):
                missing.append(f"{name}.{key}")
            inner = _model_of(sub.annotation)  # a cluster's faults
            for inner_key in inner.model_fields if inner is not None else ():
                if not _documented(inner_key, sections[name]):
                    missing.append(f"{name}.{key}.{inner_key}")
    assert missing == []


def test_the_example_config_loads_and_binds_to_loopback_only() -> None:
    config = load_daemon_config(DEFAULT_CONFIG)
    for section in (config.control, config.streams):
        assert section.bind.startswith("tcp://127.0.0.1:")
        assert section.allow_remote is False


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_the_unit_waits_longer_than_the_daemon_takes_to_stop() -> None:
    service = _unit()["Service"]
    assert service["Type"] == "notify"
    assert service["KillSignal"] == "SIGTERM"
    assert "serve" in service["ExecStart"].split()
    assert int(service["WatchdogSec"]) > 0  # fed from the event loop (Notifier.watchdog)
    stop = float(service["TimeoutStopSec"])
    config = load_daemon_config(DEFAULT_CONFIG)
    assert stop > stop_deadline_s(config)
    # what the example config and the unit say about it is the daemon's own formula
    extra = stop_deadline_s(config) - config.instrument.call_timeout_s
    for text in (DEFAULT_CONFIG.read_text(), UNIT.read_text()):
        assert f"call_timeout_s + {extra:g} s" in text
    # the largest call_timeout_s the example config promises fits too
    promised = re.search(r"for up to (\d+) s here", DEFAULT_CONFIG.read_text())
    assert promised is not None
    bigger = config.model_copy(
        update={
            "instrument": config.instrument.model_copy(
                update={"call_timeout_s": float(promised[1])}
            )
        }
    )
    assert stop > stop_deadline_s(bigger)


def test_the_unit_is_hardened() -> None:
    service = _unit()["Service"]
    for option, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
        "SystemCallFilter": "@system-service",
    }.items():
        assert service[option] == value, option
    assert "ExecReload" in service  # SIGHUP: the hardware config read again
    assert DaemonConfig.model_fields["control"].default.bind.startswith("tcp://127.0.0.1:")
