"""An owned anvil keeps the states it pages to disk in a private HOME, removed when it stops.

anvil writes the states it evicts from memory to ``$HOME/.foundry/anvil/tmp/anvil-state-*`` and never deletes
them: over a test suite that was tens of GB in the user's home. Each owned node now gets its own HOME.
"""

from __future__ import annotations

from pathlib import Path

from manager.devnet.anvil import Anvil


def test_owned_node_pages_states_into_its_own_home_and_stop_removes_it() -> None:
    with Anvil.start() as node:
        home = node.home_dir
        assert home is not None and home.is_dir()
        for _ in range(3):  # state changes in many blocks: anvil pages older states out of memory
            node.call("anvil_setBalance", ["0x" + "11" * 20, hex(10**18)])
            node.call("anvil_mine", [hex(200)])
        paged = list((home / ".foundry" / "anvil" / "tmp").glob("anvil-state-*"))
        assert paged, "anvil paged no state: the test no longer exercises the leak"
        real_home = Path.home() / ".foundry" / "anvil" / "tmp"
        assert not any(p.name == paged[0].name for p in (real_home.glob("*") if real_home.exists() else []))
    assert node.home_dir is None
    assert not home.exists()
