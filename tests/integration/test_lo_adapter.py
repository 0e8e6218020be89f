"""The LO adapter with the simulated LO: parameters by the config's names, only what changed,
refusals and hangs as our errors, the event loop never blocked, close and reopen."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from pydantic import ValidationError
from qcodes.instrument import Instrument, InstrumentModule

from qconductor.adapters.lo import LocalOscillatorAdapter, LoConfig, SimulatedLocalOscillator
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.lo import LoSetting

pytestmark = pytest.mark.anyio

NAME = "sgs100a_1"


def setting(**changes: Any) -> LoSetting:
    values: dict[str, Any] = {
        "name": "lo_drive",
        "instrument_name": NAME,
        "frequency_param": "frequency",
        "frequency": 5.0e9,
        "power_param": "power",
        "power": 12.0,
    }
    return LoSetting.model_validate(values | changes)


async def simulated(adapter: LocalOscillatorAdapter) -> SimulatedLocalOscillator:
    instrument = await adapter.run_on_driver(lambda i: i)
    assert isinstance(instrument, SimulatedLocalOscillator)
    return instrument


class Ticker:
    """A task that ticks every millisecond and records the longest gap between ticks."""

    def __init__(self) -> None:
        self.ticks = 0
        self.max_gap_s = 0.0

    async def run(self) -> None:
        last = time.perf_counter()
        while True:
            await anyio.sleep(0.001)
            now = time.perf_counter()
            self.max_gap_s = max(self.max_gap_s, now - last)
            self.ticks += 1
            last = now


class TwoChannelSource(Instrument):
    """A driver found by its class path, whose frequency lives on a submodule."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        channel = InstrumentModule(self, "ch1")
        channel.add_parameter("freq", set_cmd=None, initial_value=0.0)
        self.add_submodule("ch1", channel)
        self.add_parameter("level", set_cmd=None, initial_value=0.0)


@pytest.fixture
async def adapter() -> AsyncIterator[LocalOscillatorAdapter]:
    lo = LocalOscillatorAdapter(LoConfig(name=NAME, timeout_s=5.0))
    await lo.open()
    try:
        yield lo
    finally:
        await lo.close()


async def test_apply_sets_the_parameters_the_config_names(
    adapter: LocalOscillatorAdapter,
) -> None:
    await adapter.apply(setting())
    lo = await simulated(adapter)
    # Frequency and power first, the output switched on last.
    assert lo.set_log == [("frequency", 5.0e9), ("power", 12.0), ("status", True)]
    assert (lo.frequency(), lo.power(), lo.status()) == (5.0e9, 12.0, True)
    health = await adapter.health()
    assert health["healthy"] is True
    assert health["settings"] == {"frequency": 5.0e9, "power": 12.0, "status": True}
    assert health["idn"]["model"] == "SimulatedLocalOscillator"


async def test_unchanged_settings_send_nothing(adapter: LocalOscillatorAdapter) -> None:
    await adapter.apply(setting())
    lo = await simulated(adapter)
    lo.set_log.clear()
    await adapter.apply(setting())
    assert lo.set_log == []
    await adapter.apply(setting(frequency=6.0e9))
    assert lo.set_log == [("frequency", 6.0e9)]
    await adapter.apply(setting(frequency=6.0e9, output_enabled=False))
    assert lo.set_log == [("frequency", 6.0e9), ("status", False)]


async def test_switching_off_comes_before_the_rest(adapter: LocalOscillatorAdapter) -> None:
    await adapter.apply(setting(output_enabled=False))
    lo = await simulated(adapter)
    assert lo.set_log == [("status", False), ("frequency", 5.0e9), ("power", 12.0)]


async def test_none_leaves_a_value_alone(adapter: LocalOscillatorAdapter) -> None:
    await adapter.apply(setting(frequency=None, power_param=None))
    lo = await simulated(adapter)
    assert lo.set_log == [("status", True)]


async def test_parameter_names_come_from_the_setting() -> None:
    config = LoConfig(name=NAME, driver=f"{__name__}.TwoChannelSource", status_param="")
    adapter = LocalOscillatorAdapter(config)
    try:
        await adapter.open()
        await adapter.apply(setting(frequency_param="ch1.freq", power_param="level"))
        values = await adapter.run_on_driver(lambda i: (i.ch1.freq(), i.level()))
        assert values == (5.0e9, 12.0)
        with pytest.raises(QconductorError) as caught:
            await adapter.apply(setting(frequency=6e9, frequency_param="frequency"))
        assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
        assert caught.value.path == "hardware_description.lo_drive.frequency_param"
        assert "no parameter 'frequency'" in caught.value.message
    finally:
        await adapter.close()


async def test_a_refused_value_is_an_instrument_error(adapter: LocalOscillatorAdapter) -> None:
    await adapter.apply(setting())
    with pytest.raises(QconductorError) as caught:
        await adapter.apply(setting(frequency=25e9))  # the source reaches 18 GHz
    error = caught.value
    assert error.code == ErrorCode.INSTRUMENT_ERROR
    assert error.path == "local_oscillators[lo_drive].frequency"
    assert "local oscillator lo_drive (instrument sgs100a_1)" in error.message
    assert "frequency = 25000000000.0" in error.message
    assert isinstance(error.__cause__, ValueError)  # the driver's exception, chained
    # After a failure nothing is assumed: the next apply sends every value again.
    lo = await simulated(adapter)
    lo.set_log.clear()
    await adapter.apply(setting())
    assert lo.set_log == [("frequency", 5.0e9), ("power", 12.0), ("status", True)]


async def test_a_hung_call_times_out_while_the_loop_runs() -> None:
    adapter = LocalOscillatorAdapter(LoConfig(name=NAME, timeout_s=0.3))
    await adapter.open()
    lo = await simulated(adapter)
    release = threading.Event()
    lo.hold = release
    ticker = Ticker()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker.run)
            started = time.perf_counter()
            with pytest.raises(QconductorError) as caught:
                await adapter.apply(setting())
            elapsed = time.perf_counter() - started
            tg.cancel_scope.cancel()
        assert caught.value.code == ErrorCode.TIMEOUT
        assert caught.value.message.startswith("local oscillator sgs100a_1: ")
        assert "0.3 s" in caught.value.message
        assert 0.3 <= elapsed < 1.0
        assert ticker.ticks >= 30
        assert ticker.max_gap_s < 0.05
        health = await adapter.health()
        assert health["healthy"] is False
        assert health["busy_with"] is not None

        release.set()  # the instrument answers again
        await adapter.run_on_driver(lambda i: None, timeout_s=5.0)
        lo.hold = None
        lo.set_log.clear()
        await adapter.apply(setting())  # the timeout emptied the cache: everything again
        assert lo.set_log == [("frequency", 5.0e9), ("power", 12.0), ("status", True)]
        assert (await adapter.health())["healthy"] is True
    finally:
        release.set()
        await adapter.close()


async def test_close_then_reopen_works_and_names_are_unique() -> None:
    first = LocalOscillatorAdapter(LoConfig(name=NAME))
    second = LocalOscillatorAdapter(LoConfig(name=NAME))  # same lab name, another qcodes name
    try:
        await first.open()
        await first.open()  # idempotent
        await second.open()
        assert first.qcodes_name != second.qcodes_name
        await first.apply(setting())
        old_name = first.qcodes_name
        await first.close()
        await first.close()  # idempotent
        assert (await first.health())["open"] is False
        with pytest.raises(QconductorError) as caught:
            await first.apply(setting())
        assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
        assert "not open" in caught.value.message

        await first.open()
        assert first.qcodes_name != old_name
        lo = await simulated(first)
        await first.apply(setting())  # a fresh instrument gets every value
        assert lo.set_log == [("frequency", 5.0e9), ("power", 12.0), ("status", True)]
    finally:
        await first.close()
        await second.close()


async def test_a_setting_for_another_instrument_is_refused(
    adapter: LocalOscillatorAdapter,
) -> None:
    with pytest.raises(QconductorError) as caught:
        await adapter.apply(setting(name="lo_readout", instrument_name="lo_readout"))
    assert caught.value.code == ErrorCode.INSTRUMENT_MISMATCH
    assert adapter.matches(setting(instrument_name="other", name=NAME))


async def test_open_reports_a_driver_that_cannot_be_used() -> None:
    missing = LocalOscillatorAdapter(LoConfig(name=NAME, driver="qconductor.nowhere.Source"))
    with pytest.raises(QconductorError) as caught:
        await missing.open()
    assert caught.value.code == ErrorCode.CONFIG_BAD_VALUE
    assert caught.value.path == f"local_oscillators[{NAME}].driver"
    assert (await missing.health())["open"] is False

    no_status = LocalOscillatorAdapter(LoConfig(name=NAME, status_param="rf_on"))
    with pytest.raises(QconductorError) as caught:
        await no_status.open()
    assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
    assert caught.value.path == f"local_oscillators[{NAME}].status_param"

    refused = LocalOscillatorAdapter(LoConfig(name=NAME, kwargs={"bogus": 1}))
    with pytest.raises(QconductorError) as caught:
        await refused.open()
    assert caught.value.code == ErrorCode.INSTRUMENT_ERROR
    assert isinstance(caught.value.__cause__, TypeError)


def test_lo_config_is_closed_and_checked() -> None:
    assert LoConfig(name="lo").driver == "simulated"
    with pytest.raises(ValidationError, match="class path"):
        LoConfig(name="lo", driver="not a path")
    with pytest.raises(ValidationError, match="must not give 'name'"):
        LoConfig(name="lo", kwargs={"name": "x"})
    with pytest.raises(ValidationError):
        LoConfig.model_validate({"name": "lo", "adress": "TCPIP0::x::inst0::INSTR"})
    with pytest.raises(ValidationError):
        LoConfig(name="lo", timeout_s=0)
