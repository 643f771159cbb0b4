"""Every service an end-to-end test starts is killed at teardown, whatever the test did."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.services import Service


@pytest.fixture
def services() -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        if service.process and service.process.poll() is None:
            service.process.kill()
            service.process.wait()
