"""The collector pause restores exactly the state it found, also when nested or on error."""

from __future__ import annotations

import gc

import pytest

from qconductor.protocol.collector import collector_paused


def test_pause_nests_and_restores() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause found it disabled: leaves it so
    assert gc.isenabled()


def test_pause_restores_on_error_and_respects_a_disabled_collector() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
