"""``posman executor grant|revoke|show`` for Morpho Blue positions: ``Morpho.setAuthorization(executor, true)``
(all-or-nothing; the unsigned steps come from ``manager.atomic.grants``). Moved here from
``manager.commands.executor``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def grant_steps(w3: Any, proto: Any, signer_cfg: Any) -> list[Any]:
    """The authorization step, or [] when the executor is authorized already."""
    from manager.atomic.grants import GrantSet, read_grants
    from manager.atomic.grants import grant_steps as steps_of

    executor, owner = signer_cfg.executor, signer_cfg.address
    state = read_grants(w3, owner, executor, {}, [proto.morpho])
    if state["morpho"][proto.morpho]:
        return []
    return steps_of(executor, {}, GrantSet(morpho=(proto.morpho,)))


def revoke_steps(w3: Any, proto: Any, signer_cfg: Any) -> list[Any]:
    """The authorization off, or [] when it is off."""
    from manager.atomic.grants import read_grants
    from manager.atomic.grants import revoke_steps as steps_of

    executor, owner = signer_cfg.executor, signer_cfg.address
    state = read_grants(w3, owner, executor, {}, [proto.morpho])
    return steps_of(executor, {}, [], [proto.morpho]) if state["morpho"][proto.morpho] else []


def grants_doc(w3: Any, proto: Any, signer_cfg: Any) -> dict[str, Any]:
    """``{"morpho": address, "morpho_authorized": bool}``."""
    from manager.atomic.grants import read_grants

    state = read_grants(w3, signer_cfg.address, signer_cfg.executor, {}, [proto.morpho])
    return {"morpho": proto.morpho, "morpho_authorized": state["morpho"][proto.morpho]}


def grant_lines(d: Mapping[str, Any]) -> list[str]:
    return [f"  Morpho Blue {d['morpho']}: authorization {'ON' if d['morpho_authorized'] else 'off'}"]


__all__ = ["grant_lines", "grant_steps", "grants_doc", "revoke_steps"]
