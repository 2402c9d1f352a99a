"""Prefect's own checks for an integration's blocks, on every block we ship."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

from processmaker_prefect.prefect_layer.blocks import ProcessMakerConnection

BLOCKS: list[type[Block]] = [ProcessMakerConnection]


@pytest.mark.parametrize("block_class", BLOCKS)
class TestAllBlocksAdhereToStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self, block_class: type[Block]) -> type[Block]:
        return block_class


def test_every_block_of_the_package_is_checked() -> None:
    """A block added to the package without being listed above would escape the suite."""
    import processmaker_prefect.prefect_layer.blocks as module

    found = {
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Block) and value is not Block
    }
    assert found == set(BLOCKS)


def test_the_collections_entry_point_registers_the_block() -> None:
    """Prefect imports what `prefect.collections` names; that import defines the block."""
    (entry,) = [
        e for e in entry_points(group="prefect.collections") if e.name == "processmaker_prefect"
    ]
    module = entry.load()
    assert module.ProcessMakerConnection is ProcessMakerConnection
    assert Block.get_block_class_from_key("processmaker-connection") is ProcessMakerConnection
