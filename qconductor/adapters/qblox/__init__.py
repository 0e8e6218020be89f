"""The Qblox backend: compiler and instrument adapter over qblox-instruments."""
