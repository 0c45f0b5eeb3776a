"""The conformance suites' hook point: an adapter hook without a subclass override calls the registry adapter's
method of the same name, and a missing one fails naming it (no chain needed)."""

from __future__ import annotations

import pytest

from manager.protocols.registry import adapter
from tests.conformance.base import LendingAdapterConformance
from tests.conformance.perps_base import PerpAdapterConformance


class _BarePerps(PerpAdapterConformance):  # not collected: a subclass with devnet hooks only
    kind = "synthetix_perps"


class _BareLending(LendingAdapterConformance):
    protocol = "morpho_blue"


def test_a_hook_without_override_calls_the_adapter_method(monkeypatch):
    monkeypatch.setattr(adapter("synthetix_perps"), "margin_ratio", lambda snap: snap * 2, raising=False)
    assert _BarePerps().margin_ratio(0.1) == 0.2
    monkeypatch.setattr(adapter("morpho_blue"), "balances", lambda snap: (snap, 0), raising=False)
    assert _BareLending().balances(7) == (7, 0)


def test_a_hook_the_adapter_lacks_fails_naming_the_method(monkeypatch):
    # NOTE: whether or not the adapters have these methods yet (issue 13 branches add them), here they do not
    monkeypatch.delattr(type(adapter("synthetix_perps")), "boundary_answer", raising=False)
    monkeypatch.delattr(type(adapter("morpho_blue")), "balances", raising=False)
    with pytest.raises(NotImplementedError, match=r"synthetix_perps adapter has no boundary_answer\(\)"):
        _BarePerps().boundary_answer(object(), 0)
    with pytest.raises(NotImplementedError, match=r"morpho_blue adapter has no balances\(\)"):
        _BareLending().balances(object())
