"""qconductor: an async instrument-orchestrator daemon and Qblox backend."""

__version__ = "0.1.0"
