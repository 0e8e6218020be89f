"""Reading, validating and loading a hardware config: every problem, not only the first.

Validation runs in two layers. The pydantic models check shapes, types, closed key sets and the
ranges that hold whatever a port is wired to; their errors become diagnostics with config paths.
Then the semantic checks run on each section that validated on its own: the wiring (nodes,
channels, mixers, conflicting channels, output/input pairs) and the options (per-module ranges,
ports nothing connects). So a bad option value does not hide a wiring error, and vice versa.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ..errors import Diagnostic, ErrorCode, QconductorError
from .description import InstrumentDescription
from .diagnostics import diagnostics_from_validation_error
from .graph import Connectivity, parse_links
from .model import HardwareConfig
from .options import HardwareOptions
from .routing import PortRoute, build_routes
from .validate import check_optical_mix_lo, check_options

Source = Mapping[str, Any] | str | os.PathLike[str]


def _parse_error(message: str, hint: str | None = None) -> QconductorError:
    return QconductorError(ErrorCode.CONFIG_PARSE, message, hint=hint)


def read_source(source: Source) -> dict[str, Any]:
    """The config as a dict: a mapping as given, a string starting with ``{`` as JSON text,
    anything else as a file path. Raises ``QconductorError(CONFIG_PARSE)``."""
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        text, where = source, "JSON text"
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _parse_error(f"cannot read hardware config '{path}': {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise _parse_error(f"hardware config '{path}' is not UTF-8 text") from exc
        where = f"'{path}'"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _parse_error(
            f"{where} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            "JSON needs double quotes, null (not None), true/false and no trailing commas",
        ) from exc
    if not isinstance(data, dict):
        raise _parse_error(f"{where} holds a JSON {type(data).__name__}, not an object")
    return data


_SECTIONS: dict[str, Any] = {
    "hardware_description": dict[str, InstrumentDescription],
    "connectivity": Connectivity,
    "hardware_options": HardwareOptions,
}


@cache
def _adapter(section: str) -> TypeAdapter[Any]:
    return TypeAdapter(_SECTIONS[section])


def _section(raw: Mapping[str, Any], section: str) -> Any:
    """One top-level section validated on its own; None if it does not validate."""
    try:
        return _adapter(section).validate_python(raw.get(section))
    except ValidationError:
        return None


def _semantic(
    version: str,
    instruments: Mapping[str, InstrumentDescription] | None,
    connectivity: Connectivity | None,
    options: HardwareOptions | None,
) -> tuple[list[Diagnostic], dict[str, PortRoute] | None]:
    if instruments is None or connectivity is None:
        return [], None
    links, diagnostics = parse_links(connectivity, instruments)
    routes, more = build_routes(version, instruments, links)
    diagnostics += more + check_optical_mix_lo(routes)
    if options is not None:
        diagnostics += check_options(options, routes)
    return diagnostics, routes


def _compat_warnings(config: HardwareConfig) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if config.compilation_passes:
        out.append(
            Diagnostic(
                code=ErrorCode.CONFIG_BAD_VALUE,
                message="compilation_passes are ignored: qconductor runs its own compiler passes",
                path="compilation_passes",
                severity="warning",
            )
        )
    if config.allow_off_grid_nco_ops is not None:
        out.append(
            Diagnostic(
                code=ErrorCode.CONFIG_BAD_VALUE,
                message="allow_off_grid_nco_ops is deprecated and ignored (NCO operations run "
                "on the 1 ns grid)",
                path="allow_off_grid_nco_ops",
                severity="warning",
            )
        )
    return out


def _old_style(raw: Mapping[str, Any]) -> Diagnostic | None:
    if "backend" in raw and "hardware_description" not in raw:
        return Diagnostic(
            code=ErrorCode.CONFIG_UNSUPPORTED_VERSION,
            message="this is an old-style hardware config (it has a 'backend' key); only the "
            "versioned form (0.1, 0.2) is supported",
            path="backend",
            hint="convert it once with quantify-scheduler: "
            "QbloxHardwareCompilationConfig.model_validate(old).model_dump_json()",
        )
    return None


def validate_raw(raw: Mapping[str, Any]) -> tuple[HardwareConfig | None, list[Diagnostic]]:
    """Validate a config dict: the model (None if rejected) and all diagnostics."""
    old = _old_style(raw)
    if old is not None:
        return None, [old]
    try:
        config = HardwareConfig.model_validate(raw)
    except ValidationError as exc:
        diagnostics = diagnostics_from_validation_error(HardwareConfig, raw, exc)
        version = raw.get("version", "0.1")
        semantic, _ = _semantic(
            version if version in ("0.1", "0.2") else "0.2",
            _section(raw, "hardware_description"),
            _section(raw, "connectivity"),
            _section(raw, "hardware_options"),
        )
        return None, diagnostics + semantic
    semantic, routes = _semantic(
        config.version, config.hardware_description, config.connectivity, config.hardware_options
    )
    diagnostics = semantic + _compat_warnings(config)
    if not any(d.severity == "error" for d in diagnostics):
        config._routes = routes
        config._warnings = [d for d in diagnostics if d.severity == "warning"]
    return config, diagnostics


def check_hardware_config(source: Source) -> list[Diagnostic]:
    """Every error and warning of a config (a path, JSON text or a dict). Never raises for
    content problems: an unreadable source is one CONFIG_PARSE diagnostic."""
    try:
        raw = read_source(source)
    except QconductorError as exc:
        return [exc.as_diagnostic()]
    return validate_raw(raw)[1]


def load_hardware_config(source: Source) -> HardwareConfig:
    """Load and validate a config (a path, JSON text or a dict).

    Raises ``QconductorError`` with code CONFIG_INVALID (or the single error's own code) whose
    ``details`` hold every error; warnings are kept on the returned config (``.warnings``).
    """
    config, diagnostics = validate_raw(read_source(source))
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors or config is None:
        raise QconductorError.from_diagnostics(ErrorCode.CONFIG_INVALID, "hardware config", errors)
    return config


def hardware_config_json_schema() -> dict[str, Any]:
    """The JSON schema of the config (structure only; the semantic checks are not in it)."""
    return HardwareConfig.model_json_schema()
