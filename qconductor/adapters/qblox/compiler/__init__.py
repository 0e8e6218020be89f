"""The Qblox compiler: schedule + hardware config -> sequencer programs and settings.

Pure: no I/O, no driver import (checked by the import contracts), so it runs in a worker process.
"""

from qconductor.adapters.qblox.compiler.compile import COMPILER_VERSION, compile_schedule

__all__ = ["COMPILER_VERSION", "compile_schedule"]
