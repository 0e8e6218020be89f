"""What a benchmark figure was measured on: CPU, memory, Python and library versions, date."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import qconductor


def _first_value(path: str, key: str) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git_revision(directory: Path) -> str | None:
    """``<short hash>`` (``+dirty`` if qconductor/ has changes) of the tree holding qconductor."""
    try:
        head = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--", "qconductor"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def describe() -> dict[str, object]:
    meminfo = _first_value("/proc/meminfo", "MemTotal")  # "24684084 kB"
    ram_gib = round(int(meminfo.split()[0]) / 2**20, 1) if meminfo else None
    package_dir = Path(qconductor.__file__).resolve().parent
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _first_value("/proc/cpuinfo", "model name") or platform.processor() or None,
        "cpu_mhz": _first_value("/proc/cpuinfo", "cpu MHz"),
        "nproc": os.cpu_count(),
        "ram_gib": ram_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "pydantic": _version("pydantic"),
        "qconductor": qconductor.__version__,
        "qconductor_path": str(package_dir),
        "qconductor_git": _git_revision(package_dir.parent),
    }
