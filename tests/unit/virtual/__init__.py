"""Unit tests of the simulated lab."""
