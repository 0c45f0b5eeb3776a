"""The base classes of every config model, shared by ``manager.config.schema`` and each protocol's own
``manager/protocols/<kind>/config.py`` (which cannot import the schema: the schema builds its protocol union
from them through the registry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from manager.config.types import Name, is_hex_address


class Section(BaseModel):
    """Base of every config model: strict, frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ProtocolConfigBase(Section):
    """Base of a ``[[protocols]]`` entry: its ``name`` and ``chain``. Each protocol's model adds
    ``kind: Literal["<its kind>"]`` (the union's discriminator) and its own keys."""

    name: Name
    chain: Name
    if TYPE_CHECKING:  # each protocol's model declares it as ``Literal["<kind>"]`` (the union's tag)
        kind: str

    def contracts(self) -> list[str]:
        """The addresses this protocol entry configures (the executor's allow-list starts here)."""
        return [v for k, v in self if k not in ("name", "chain", "kind") and isinstance(v, str) and is_hex_address(v)]


__all__ = ["ProtocolConfigBase", "Section"]
