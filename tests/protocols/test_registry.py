"""The protocol registry (issue 13): kind -> adapter, the config union built from it, and a protocol added at run
time (a fake perp adapter) picked up by config parsing, start-up wiring, the allow-list and the planner without any
other edit."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from eth_utils import to_checksum_address

from manager.config import load_config, parse_config
from manager.config.base import ProtocolConfigBase
from manager.config.types import Address
from manager.domain import SizingDecision, SizingStep
from manager.errors import ConfigError
from manager.execution.calls import selector_of
from manager.execution.types import TxStep
from manager.protocols import registry
from manager.protocols.base import (
    ContractCheck,
    LendingAdapter,
    NotSupported,
    PerpAdapter,
    PositionWiring,
    ProtocolAdapter,
    VenueAdapter,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "example.toml"


# ------------------------------------------------------------------------------------------------ the registry
def test_unknown_kind_is_one_line_naming_the_known_kinds():
    with pytest.raises(registry.UnknownProtocol) as err:
        registry.adapter("aave_v2")
    msg = str(err.value)
    assert "\n" not in msg and "'aave_v2'" in msg
    assert msg.endswith(f"(known: {', '.join(registry.kinds())})")
    assert isinstance(err.value, KeyError) and isinstance(err.value, ConfigError)  # a lookup miss, a config stop


def test_every_adapter_is_one_family_with_its_own_config_model():
    assert registry.kinds() == ("aave_v3", "uniswap_v3", "morpho_blue", "synthetix_perps")
    bases = {"lending": LendingAdapter, "perp": PerpAdapter, "venue": VenueAdapter}
    for kind in registry.kinds():
        a = registry.adapter(kind)
        assert a.kind == kind and isinstance(a, bases[a.family]) and a is registry.adapter(kind)  # one instance
        model = a.config_model
        assert issubclass(model, ProtocolConfigBase)
        assert model.model_fields["kind"].annotation == Literal[kind]  # its own tag, nothing else
        assert model.model_config.get("extra") == "forbid"
    assert [a.kind for a in registry.managed()] == ["aave_v3", "morpho_blue", "synthetix_perps"]
    assert registry.venue().kind == "uniswap_v3"


def test_the_config_union_is_the_registry():
    from manager.config import schema

    union = typing.get_args(schema.ProtocolConfig)[0]
    assert typing.get_args(union) == tuple(registry.adapter(k).config_model for k in registry.kinds())
    assert schema.PROTOCOL_KINDS == registry.kinds()
    # the old import path still finds the moved models (by class name)
    assert schema.AaveV3Config is registry.adapter("aave_v3").config_model


def test_the_union_accepts_each_kind():
    """configs/example.toml has an entry of every kind (the perps and Morpho ones commented out): each parses into
    its adapter's model, and ``adapter_of`` finds the adapter again from the parsed entry."""
    text = EXAMPLE.read_text()
    for kind in ("morpho_blue", "synthetix_perps"):  # uncomment the example's commented-out entries
        start = text.index(f'# kind = "{kind}"')
        block_start = text.rindex("# [[protocols]]", 0, start)
        block_end = text.index("\n\n", start)
        block = text[block_start:block_end]
        text = text.replace(block, "\n".join(line[2:] if (line.startswith("# ") and " = " in line) or
                                             line == "# [[protocols]]" else line for line in block.splitlines()))
    cfg = parse_config(text, source=str(EXAMPLE), base_dir=EXAMPLE.parent)
    seen = {p.kind: p for p in cfg.protocols}
    assert set(seen) == set(registry.kinds())
    for kind, proto in seen.items():
        assert type(proto) is registry.adapter(kind).config_model
        assert registry.adapter_of(proto) is registry.adapter(kind)


def test_find_adapter_of_objects_naming_no_protocol():
    assert registry.find_adapter(object()) is None
    assert registry.find_adapter(type("S", (), {"protocol": "nope"})()) is None
    with pytest.raises(TypeError, match="names no protocol kind"):
        registry.adapter_of(object())


# ------------------------------------------------------------------------------------------------ a new protocol
FAKE_MARKET = "0x" + "ab" * 20
FAKE_FN = "nudge(int256)"


class FakePerpConfig(ProtocolConfigBase):
    kind: Literal["fake_perp"]
    market: Address


@dataclass(frozen=True)
class FakeContext:
    protocol_kind: ClassVar[str] = "fake_perp"
    account: str
    market: str


class FakePerpAdapter(PerpAdapter):
    """A protocol that exists only in this test: its folder would hold exactly this."""

    kind: ClassVar[str] = "fake_perp"
    config_model: ClassVar[type[Any]] = FakePerpConfig
    strategies: ClassVar[frozenset[str]] = frozenset({"perp_margin"})
    title: ClassVar[str] = "Fake Perp"

    def __init__(self) -> None:
        self.wired: list[str] = []

    def contract_checks(self) -> list[ContractCheck]:
        return [ContractCheck("market", "a fake perp market")]

    def wire_position(self, env: Any, pos: Any, proto: Any) -> PositionWiring:
        self.wired.append(pos.name)
        return PositionWiring(FakeContext(pos.account, proto.market), self.post_health_reader(None, proto, pos.account),
                              self.allowed_calls(env, proto))

    def allowed_calls(self, env: Any, proto: Any) -> dict[str, set[str]]:
        return {proto.market: {selector_of(FAKE_FN)}}

    def action_selectors(self) -> set[str]:
        return {selector_of(FAKE_FN)}

    def write_functions(self) -> tuple[str, ...]:
        return (FAKE_FN,)

    def post_health_reader(self, chain_cfg: Any, proto: Any, account: str) -> Any:
        return lambda w3: 2.0

    def build_steps(self, decision: Any, snapshot: Any, ctx: Any) -> tuple[TxStep, ...]:
        return tuple(TxStep(to=ctx.market, data=selector_of(FAKE_FN) + "00" * 32, label=f"nudge {s.amount_wei}")
                     for s in decision.steps)

    # reads: this test wires and plans, it never runs a tick on the fake market
    def read_plan(self, proto: Any, positions: Any, ctx: Any) -> Any:
        raise NotSupported("fake_perp positions are not read in this test")

    def check_contracts(self, client: Any, proto: Any, block: int) -> None:
        return None

    def status_row(self, snap: Any) -> dict[str, Any]:
        return {"name": snap.name}


@pytest.fixture()
def fake_registered():
    adapter = FakePerpAdapter()
    registry.register("fake_perp", adapter)
    try:
        yield adapter
    finally:
        registry.unregister("fake_perp")


def _config_text(net: Any, market: str) -> str:
    address = net.accounts["alice"][0]
    return f"""
[storage]
url = "sqlite:///:memory:"

[chains.dev]
chain_id = {int(net.w3.eth.chain_id)}
rpc_urls = ["{net.url}"]
multicall = "{net.book['multicall']}"
multicall_kind = "{net.book['multicall_kind']}"

[[protocols]]
name = "fake"
kind = "fake_perp"
chain = "dev"
market = "{market}"

[signers.alice]
address = "{address}"
key_env = "POSMAN_TEST_ALICE_KEY"

[alerts]
enabled = false

[[positions]]
name = "f1"
protocol = "fake"
account = "{address}"
mode = "manage"
signer = "alice"
strategy = "alert_only"
"""


def test_a_protocol_registered_at_run_time_parses_and_is_wired(fake_registered, chain, tmp_path):
    from manager.execution.allowlist import action_selectors, function_names
    from manager.execution.planner import build_plan
    from manager.runtime.lifecycle import build_manager, post_health_reader

    market = chain.book["multicall"]  # a contract with code: the start-up check of the fake entry passes
    path = tmp_path / "posman.toml"
    path.write_text(_config_text(chain, market))
    cfg = load_config(path)
    proto = cfg.protocol("fake")
    assert type(proto) is FakePerpConfig and registry.adapter_of(proto) is fake_registered
    # the allow-list machinery sees its functions
    assert selector_of(FAKE_FN) in action_selectors() and function_names()[selector_of(FAKE_FN)] == FAKE_FN
    assert post_health_reader(cfg.chains["dev"], proto, proto.market)(None) == 2.0

    manager = build_manager(cfg, reader=object(), environ={"POSMAN_TEST_ALICE_KEY": chain.accounts["alice"][1]})
    try:
        assert fake_registered.wired == ["f1"]
        mp = manager.runtime.positions["f1"]
        ctx = mp.plan_context
        assert isinstance(ctx, FakeContext) and ctx.market == market and mp.post_check(None) == 2.0
        assert mp.executor is manager.executors["alice"]
        assert mp.executor.limits.allowed_calls[to_checksum_address(market)] == {selector_of(FAKE_FN)}
        decision = SizingDecision(position="f1", action="perp_reduce", block_number=5, notional_usd=10.0,
                                  steps=(SizingStep(round=0, kind="swap", asset=market, symbol="X", amount_wei=7),))
        plan = build_plan(decision, object(), ctx)
        assert [s.label for s in plan.steps] == ["nudge 7"] and plan.steps[0].to == to_checksum_address(market)
    finally:
        manager.close()


def test_a_wrong_address_of_the_new_protocol_is_refused_at_start(fake_registered, chain, tmp_path):
    from manager.runtime.lifecycle import build_manager

    path = tmp_path / "posman.toml"
    path.write_text(_config_text(chain, "0x" + "00" * 19 + "99"))  # no code there
    cfg = load_config(path)
    with pytest.raises(ConfigError, match=r"protocols\[0\]\.market: .* is not a contract .*expected a fake perp market"):
        build_manager(cfg, reader=object(), environ={"POSMAN_TEST_ALICE_KEY": chain.accounts["alice"][1]})
    assert fake_registered.wired == []


def test_unregistering_removes_the_kind_from_the_config(fake_registered):
    registry.unregister("fake_perp")
    with pytest.raises(ConfigError, match=r"unknown kind \(allowed: 'aave_v3', 'uniswap_v3', 'morpho_blue', "
                                          r"'synthetix_perps'\); got 'fake_perp'"):
        parse_config('[chains.c]\nchain_id = 1\nrpc_urls = ["http://x"]\n[[protocols]]\nname = "f"\n'
                     'kind = "fake_perp"\nchain = "c"\nmarket = "' + FAKE_MARKET + '"\n')
    registry.register("fake_perp", fake_registered)  # the fixture unregisters it again


class Bare(LendingAdapter):
    """A lending adapter that implements nothing."""

    kind: ClassVar[str] = "bare"
    config_model: ClassVar[type[Any]] = FakePerpConfig


def test_an_adapter_missing_a_required_method_is_refused_by_name():
    with pytest.raises(TypeError, match=r"abstract.*build_steps"):
        registry.register("bare", "tests.protocols.test_registry:Bare")
    assert "bare" not in registry.kinds()  # refused: the registry is unchanged


def test_base_adapter_defaults_say_not_supported():
    class Minimal(Bare):
        def wire_position(self, env: Any, pos: Any, proto: Any) -> PositionWiring:
            raise AssertionError

        def allowed_calls(self, env: Any, proto: Any) -> dict[str, set[str]]:
            return {}

        def action_selectors(self) -> set[str]:
            return set()

        def post_health_reader(self, chain_cfg: Any, proto: Any, account: str) -> Any:
            return lambda w3: 1.0

        def build_steps(self, decision: Any, snapshot: Any, ctx: Any) -> tuple[Any, ...]:
            return ()

        def leg_price(self, snapshot: Any, asset: str) -> tuple[int, int]:
            return 1, 18

        def read_plan(self, proto: Any, positions: Any, ctx: Any) -> Any:
            raise AssertionError

        def check_contracts(self, client: Any, proto: Any, block: int) -> None:
            return None

        def status_row(self, snap: Any) -> dict[str, Any]:
            return {}

    b = Minimal()
    assert isinstance(b, ProtocolAdapter) and b.contract_checks() == () and b.init_markets({}) == []
    assert b.liquidation_loss_usd(object()) is None and b.debt_and_bonus(object()) is None
    assert b.revert_reason("35") is None and b.flash_lender(None, None) is None  # type: ignore[arg-type]
    assert "does not cover bare" in str(b.atomic_debt(object(), None))
    with pytest.raises(NotSupported, match="no bare target"):
        b.atomic_target(object(), None)
    with pytest.raises(NotSupported, match="bare offers no flash loan"):
        b.flash_option(None, "0x", "0x")
    assert b.price_usd(None, None, "WETH", 1) is None
    plan = b.atomic_plan(None, None, [])
    with pytest.raises(StopIteration) as stop:
        next(plan)
    assert stop.value.value == {}
