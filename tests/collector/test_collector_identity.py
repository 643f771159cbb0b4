"""device_from_metadata: the pre-enrollment device identity."""

from __future__ import annotations

import pytest

import collector
from collector.identity import DEVICE_ID_METADATA_KEY, Unauthenticated, device_from_metadata


def test_the_device_id_is_taken_from_the_metadata() -> None:
    metadata = [("user-agent", "grpc-python"), (DEVICE_ID_METADATA_KEY, "laptop-0042.corp_1")]
    assert device_from_metadata(metadata) == "laptop-0042.corp_1"


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (None, "missing"),
        ([("user-agent", "grpc-python")], "missing"),
        ([(DEVICE_ID_METADATA_KEY, "")], "1-128 characters"),
        ([(DEVICE_ID_METADATA_KEY, "a" * 129)], "1-128 characters"),
        ([(DEVICE_ID_METADATA_KEY, "laptop 42")], "1-128 characters"),
        ([(DEVICE_ID_METADATA_KEY, "../../etc")], "1-128 characters"),
        ([(DEVICE_ID_METADATA_KEY, b"laptop")], "1-128 characters"),
        ([(DEVICE_ID_METADATA_KEY, "a"), (DEVICE_ID_METADATA_KEY, "b")], "given 2 times"),
    ],
)
def test_a_missing_unusable_or_ambiguous_device_id_is_unauthenticated(
    metadata: list[tuple[str, str | bytes]] | None, reason: str
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        device_from_metadata(metadata)


def test_every_public_name_of_the_collector_package_exists() -> None:
    assert all(hasattr(collector, name) for name in collector.__all__)
    assert sorted(collector.__all__) == sorted(set(collector.__all__))
