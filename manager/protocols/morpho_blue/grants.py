"""``posman executor grant|revoke|show`` for Morpho Blue positions: ``Morpho.setAuthorization(executor, true)``
(all-or-nothing; the unsigned steps come from ``manager.atomic.grants``). Moved here from
``manager.commands.executor``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SET_AUTHORIZATION_FN = "setAuthorization(address,bool)"
IS_AUTHORIZED_FN = "isAuthorized(address,address)"


# ------------------------------------------------------------------------------------------------ the grant
# ``Morpho.setAuthorization(executor, true)``: Morpho has no amount-scoped authorization, so this one is
# all-or-nothing (the executor's own code limits what it does). Mirrors morpho-blue ``setAuthorization`` /
# ``isAuthorized``. (Moved here from ``manager.atomic.grants``.)
def _calldata(signature: str, types: list[str], args: list[Any]) -> str:
    from eth_abi.abi import encode

    from manager.execution.calls import selector_of

    return selector_of(signature) + encode(types, args).hex()


def authorization_step(morpho: str, executor: str, on: bool) -> Any:
    """``setAuthorization(executor, on)`` on ``morpho``."""
    from eth_utils.address import to_checksum_address

    from manager.execution.types import TxStep

    return TxStep(to=to_checksum_address(morpho),
                  data=_calldata(SET_AUTHORIZATION_FN, ["address", "bool"], [executor, on]),
                  label=f"grant_morpho_{'on' if on else 'off'}", kind="call")


def read_state(w3: Any, owner: str, executor: str, morphos: Iterable[str],
               block: int | str = "latest") -> dict[str, bool]:
    """``{morpho: authorized}`` now (checksummed ``owner`` / ``executor``)."""
    from eth_utils.address import to_checksum_address

    out: dict[str, bool] = {}
    for m in morphos:
        ret = w3.eth.call({"to": to_checksum_address(m),
                           "data": _calldata(IS_AUTHORIZED_FN, ["address", "address"], [owner, executor])},
                          block_identifier=block)
        out[to_checksum_address(m)] = bool(int.from_bytes(bytes(ret)[-32:], "big"))
    return out


# ------------------------------------------------------------------------------------------------ the commands


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


__all__ = ["IS_AUTHORIZED_FN", "SET_AUTHORIZATION_FN", "authorization_step", "grant_lines", "grant_steps", "grants_doc", "read_state", "revoke_steps"]
