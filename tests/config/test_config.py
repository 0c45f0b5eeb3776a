"""Config loading: the example file, located one-line errors, cross-checks, path resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from manager.config import (
    MULTICALL3_ADDRESS,
    AaveV3Config,
    Config,
    UniswapV3Config,
    load_config,
    mask_url,
    params_error,
    parse_config,
)
from manager.errors import ConfigError, StopError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "example.toml"

ALICE = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PROVIDER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"

MINIMAL = f"""\
[chains.devnet]
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]

[[protocols]]
name = "aave"
kind = "aave_v3"
chain = "devnet"
pool_addresses_provider = "{PROVIDER}"
"""


def write(tmp_path: Path, text: str, name: str = "posman.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert "\n" not in str(err), "config errors are one line"
    return err


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return i
    raise AssertionError(f"{needle!r} not in text")


# ------------------------------------------------------------------------------------------------
# the documented example
# ------------------------------------------------------------------------------------------------
def test_example_config_loads_and_resolves_paths():
    cfg = load_config(EXAMPLE)
    chain = cfg.chains["devnet"]
    assert chain.chain_id == 31337
    assert chain.multicall_kind == "uniswap_interface"
    assert chain.request_timeout_s == 10.0
    assert cfg.storage.url == f"sqlite:///{EXAMPLE.parent / 'posman.sqlite'}"
    aave, uni = cfg.protocols
    assert isinstance(aave, AaveV3Config) and isinstance(uni, UniswapV3Config)
    assert cfg.chain_of("aave") is chain
    assert cfg.positions[0].mode == "manage" and cfg.positions[0].signer == "alice"
    assert cfg.positions[0].params["target_health"] == 1.5 and cfg.positions[0].strategy == "cdp_health"
    assert cfg.oracles.heartbeat_s("WETH") == 3600
    assert cfg.oracles.heartbeat_s("USDC") == 86400
    assert cfg.pools[0].depth_bps == [10, 50, 100, 300]
    assert cfg.source == str(EXAMPLE)
    assert cfg.alerts.rules.health_for("alice").warning_below_hf == 1.5
    assert [c.type for c in cfg.alerts.channels] == ["log", "webhook"]
    # every configured contract is in the allow-list
    assert set(cfg.allowed_contracts("devnet")) == {aave.pool_addresses_provider, uni.factory,
                                                    uni.swap_router, uni.quoter}


def test_example_documents_every_key():
    """Each schema field appears (set or commented out) in the example file."""
    text = EXAMPLE.read_text()
    headers = {part for line in text.splitlines() if line.startswith("[")
               for part in line.strip("[] ").split(".")}
    from manager.config import schema

    models = [schema.StorageConfig, schema.ChainConfig, schema.AaveV3Config, schema.UniswapV3Config,
              schema.OraclesConfig, schema.PoolWatchConfig, schema.SignerConfig, schema.LimitsConfig,
              schema.RuntimeConfig, schema.PositionConfig, Config]
    from manager.alerts import config as alerts

    models += [alerts.AlertsConfig, alerts.AlertRules, alerts.HealthAlertRules]
    for model in models:
        for field in model.model_fields:
            assert f"{field} =" in text or field in headers, (model.__name__, field)


def test_defaults_of_a_minimal_file(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL))
    chain = cfg.chains["devnet"]
    assert chain.multicall == MULTICALL3_ADDRESS and chain.multicall_kind == "multicall3"
    assert chain.max_retries == 3 and chain.max_head_age_s == 120 and chain.multicall_chunk_size == 500
    assert cfg.storage.url == f"sqlite:///{tmp_path.resolve() / 'posman.sqlite'}"
    assert cfg.limits.max_slippage_bps == 100 and cfg.runtime.dry_run is False
    assert cfg.positions == [] and cfg.signers == {}


def test_config_is_frozen(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ValidationError):
        cfg.chains["devnet"].chain_id = 1  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------
# syntax and unknown keys
# ------------------------------------------------------------------------------------------------
def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml does not exist"):
        load_config(tmp_path / "nope.toml")


def test_malformed_toml_names_file_and_line(tmp_path):
    text = MINIMAL + "\n[runtime]\npoll_interval_s = = 2\n"
    err = load_error(tmp_path, text)
    assert str(err).startswith(f"{tmp_path / 'posman.toml'}:{line_of(text, 'poll_interval_s')}: invalid TOML:")
    assert isinstance(err, StopError) and err.line == line_of(text, "poll_interval_s")


def test_unknown_key_suggests_the_close_name(tmp_path):
    text = MINIMAL.replace("rpc_urls", "rpc_url")
    err = load_error(tmp_path, text)
    msg = str(err)
    assert f"posman.toml:{line_of(text, 'rpc_url')}: chains.devnet.rpc_url: unknown key" in msg
    assert "did you mean 'rpc_urls'?" in msg
    assert "more" not in msg  # the misspelling is not reported again as "rpc_urls: missing"
    assert len(err.problems) == 1


def test_unknown_section_suggests_the_close_name(tmp_path):
    text = MINIMAL + "\n[limit]\nper_tx_usd = 5\n"
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, '[limit]')}: limit: unknown key; did you mean 'limits'?" in msg


def test_unknown_key_inside_a_discriminated_protocol(tmp_path):
    text = MINIMAL.replace("pool_addresses_provider", "pool_address_provider")
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'pool_address_provider')}: protocols[0].pool_address_provider: unknown key" in msg
    assert "did you mean 'pool_addresses_provider'?" in msg


def test_unknown_key_value_is_never_echoed(tmp_path):
    secret = "0x" + "ab" * 32
    text = MINIMAL + f'\n[signers.alice]\naddress = "{ALICE}"\nprivate_key = "{secret}"\n'
    msg = str(load_error(tmp_path, text))
    assert secret not in msg and "signers.alice.private_key: unknown key" in msg


# ------------------------------------------------------------------------------------------------
# values
# ------------------------------------------------------------------------------------------------
def positions(*modes: str) -> str:
    out = ""
    for i, mode in enumerate(modes):
        out += f'\n[[positions]]\nname = "p{i}"\nprotocol = "aave"\naccount = "{ALICE}"\nmode = "{mode}"\n'
        out += "[positions.params]\ntarget = 1.5\n"
    return out


def test_bad_literal_in_third_positions_table_points_at_its_line(tmp_path):
    text = MINIMAL + positions("watch", "watch", "wach")
    msg = str(load_error(tmp_path, text))
    assert msg == (f"{tmp_path / 'posman.toml'}:{line_of(text, 'mode = ', 3)}: positions[2].mode: "
                   "input should be 'watch' or 'manage'; got 'wach'")


def test_out_of_bounds_value_says_what_is_allowed(tmp_path):
    text = MINIMAL.replace("rpc_urls", "max_head_age_s = 0\nrpc_urls")
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'max_head_age_s')}: chains.devnet.max_head_age_s: input should be greater than 0; got 0" in msg


def test_strings_are_not_coerced_to_numbers(tmp_path):
    text = MINIMAL.replace("chain_id = 31337", 'chain_id = "31337"')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'chain_id')}: chains.devnet.chain_id: input should be a valid integer; got '31337'" in msg


def test_unknown_protocol_kind(tmp_path):
    text = MINIMAL.replace('kind = "aave_v3"', 'kind = "aave_v2"')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'kind =')}: protocols[0].kind: unknown kind (allowed: 'aave_v3', 'uniswap_v3', 'morpho_blue', 'synthetix_perps'); got 'aave_v2'" in msg


def test_missing_required_key_points_at_its_table(tmp_path):
    text = MINIMAL.replace(f'pool_addresses_provider = "{PROVIDER}"\n', "")
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, '[[protocols]]')}: protocols[0].pool_addresses_provider: missing required key" in msg


def test_bad_checksum_is_refused(tmp_path):
    bad = PROVIDER[:-1] + ("2" if PROVIDER[-1] != "2" else "3")
    bad = bad[:3] + bad[3].swapcase() + bad[4:] if bad[3].isalpha() else bad
    text = MINIMAL.replace(PROVIDER, "0xE7f1725E7734CE288F8367e1Bb143E90bb3F0512")
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'pool_addresses_provider')}: protocols[0].pool_addresses_provider: bad EIP-55 checksum" in msg
    assert "0xE7f1725E7734CE288F8367e1Bb143E90bb3F0512" in msg


def test_lowercase_address_is_accepted_and_checksummed(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL.replace(PROVIDER, PROVIDER.lower())))
    assert cfg.protocols[0].pool_addresses_provider == PROVIDER


def test_not_hex_address(tmp_path):
    text = MINIMAL.replace(PROVIDER, "0x1234")
    msg = str(load_error(tmp_path, text))
    assert "protocols[0].pool_addresses_provider: not a hex address" in msg and "got '0x1234'" in msg


def test_bad_dict_key_name(tmp_path):
    text = MINIMAL.replace("[chains.devnet]", '[chains."dev net"]')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'dev net')}: chains.dev net: invalid name" in msg


# ------------------------------------------------------------------------------------------------
# cross-checks
# ------------------------------------------------------------------------------------------------
def test_manage_mode_needs_a_signer(tmp_path):
    text = MINIMAL + positions("watch", "manage")
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'mode = ', 2)}: positions[1].mode: mode 'manage' needs a signer" in msg


def test_position_with_unknown_protocol_suggests(tmp_path):
    text = MINIMAL + positions("watch").replace('protocol = "aave"', 'protocol = "aavee"')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'aavee')}: positions[0].protocol: unknown protocol (known: 'aave'); did you mean 'aave'?; got 'aavee'" in msg


def test_protocol_on_unknown_chain(tmp_path):
    text = MINIMAL.replace('chain = "devnet"', 'chain = "mainnet"')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'mainnet')}: protocols[0].chain: unknown chain (known: 'devnet')" in msg


def test_duplicate_names(tmp_path):
    text = MINIMAL + positions("watch", "watch").replace('"p1"', '"p0"')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'name = ', 3)}: positions[1].name: duplicate position name (also positions[0])" in msg
    text = MINIMAL + MINIMAL[MINIMAL.index("[[protocols]]"):]
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'name = ', 2)}: protocols[1].name: duplicate protocol name" in msg


def test_duplicate_chain_table_is_a_toml_error(tmp_path):
    text = MINIMAL + '\n[chains.devnet]\nchain_id = 1\nrpc_urls = ["http://x"]\n'
    assert "invalid TOML" in str(load_error(tmp_path, text))


SIGNER = f'\n[signers.alice]\naddress = "{ALICE}"\n'


def test_signer_needs_key_env_xor_keystore(tmp_path):
    text = MINIMAL + SIGNER
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, '[signers.alice]')}: signers.alice: a signer needs exactly one of key_env or keystore" in msg
    both = SIGNER + 'key_env = "K"\nkeystore = "k.json"\npassword_env = "P"\n'
    assert "exactly one of key_env or keystore" in str(load_error(tmp_path, MINIMAL + both))
    no_pw = MINIMAL + SIGNER + 'keystore = "k.json"\n'
    assert "signers.alice.keystore: keystore needs password_env" in str(load_error(tmp_path, no_pw))


def test_private_key_in_key_env_is_refused_and_redacted(tmp_path):
    secret = "ab" * 32
    text = MINIMAL + SIGNER + f'key_env = "{secret}"\n'
    msg = str(load_error(tmp_path, text))
    assert "looks like a private key" in msg and secret not in msg


def test_keystore_resolves_against_the_config_dir(tmp_path):
    sub = tmp_path / "etc"
    sub.mkdir()
    text = MINIMAL + SIGNER + 'keystore = "keys/alice.json"\npassword_env = "POSMAN_PW"\n' + positions(
        "manage").replace('mode = "manage"', 'mode = "manage"\nsigner = "alice"')
    cfg = load_config(write(sub, text))
    assert cfg.signers["alice"].keystore == sub.resolve() / "keys" / "alice.json"
    assert cfg.positions[0].signer == "alice"


def test_unknown_signer(tmp_path):
    text = MINIMAL + SIGNER + 'key_env = "K"\n' + positions("manage").replace(
        'mode = "manage"', 'mode = "manage"\nsigner = "alicia"')
    msg = str(load_error(tmp_path, text))
    assert "positions[0].signer: unknown signer (known: 'alice'); did you mean 'alice'?" in msg


def test_storage_urls(tmp_path):
    ok = load_config(write(tmp_path, '[storage]\nurl = "postgresql+psycopg://posman@db/posman"\n' + MINIMAL))
    assert ok.storage.url == "postgresql+psycopg://posman@db/posman"
    absolute = load_config(write(tmp_path, '[storage]\nurl = "sqlite:////var/x.sqlite"\n' + MINIMAL))
    assert absolute.storage.url == "sqlite:////var/x.sqlite"
    msg = str(load_error(tmp_path, '[storage]\nurl = "postgresql+psycopg://u:pw@db/x"\n' + MINIMAL))
    assert "posman.toml:2: storage.url: the storage URL holds a password" in msg
    msg = str(load_error(tmp_path, '[storage]\nurl = "mysql://db/x"\n' + MINIMAL))
    assert "storage.url: unsupported storage URL" in msg


def test_uniswap_interface_multicall_needs_an_address(tmp_path):
    text = MINIMAL.replace("rpc_urls", 'multicall_kind = "uniswap_interface"\nrpc_urls')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, '[chains.devnet]')}: chains.devnet.multicall: multicall_kind 'uniswap_interface' needs" in msg


def test_limits_cross_checks(tmp_path):
    text = MINIMAL + "\n[limits]\nmax_fee_gwei = 2\nmax_priority_fee_gwei = 3\n"
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'max_priority_fee_gwei')}: limits.max_priority_fee_gwei: must not exceed max_fee_gwei (2); got 3" in msg


def test_pool_must_reference_a_uniswap_protocol(tmp_path):
    text = MINIMAL + '\n[[pools]]\nprotocol = "aave"\ntoken_in = "WETH"\ntoken_out = "USDC"\n'
    msg = str(load_error(tmp_path, text))
    assert "pools[0].protocol: pool depth needs a uniswap_v3 protocol, 'aave' is aave_v3" in msg


def test_several_errors_are_reported_in_file_order_on_one_line(tmp_path):
    text = MINIMAL.replace("chain_id = 31337", "chain_id = 0") + "\n[runtime]\npoll_interval_s = -1\n"
    err = load_error(tmp_path, text)
    assert str(err).startswith(f"{tmp_path / 'posman.toml'}:{line_of(text, 'chain_id')}: chains.devnet.chain_id")
    assert f"+1 more: runtime.poll_interval_s (line {line_of(text, 'poll_interval_s')})" in str(err)
    assert len(err.problems) == 2


# ------------------------------------------------------------------------------------------------
# helpers for later validators
# ------------------------------------------------------------------------------------------------
class StrategyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: float = Field(gt=1.0)
    trigger: float = 1.2


def test_params_error_points_at_the_params_key(tmp_path):
    text = MINIMAL + positions("watch", "watch").replace("target = 1.5", "target = 0.5").replace(
        "[positions.params]\ntarget = 0.5\n", "[positions.params]\ntarget = 0.5\ntriger = 1.1\n", 1)
    cfg = load_config(write(tmp_path, text))
    with pytest.raises(ValidationError) as info:
        StrategyParams.model_validate(cfg.positions[0].params)
    err = params_error(cfg, ("positions", 0, "params"), info.value, model=StrategyParams)
    assert str(err).startswith(f"{tmp_path / 'posman.toml'}:{line_of(text, 'target')}: positions[0].params.target: "
                               "input should be greater than 1; got 0.5")
    assert f"positions[0].params.triger (line {line_of(text, 'triger')})" in str(err)
    assert any("did you mean 'trigger'?" in p for p in err.problems)
    # config.error / locate for hand-written checks
    assert cfg.locate(("positions", 1, "params", "target")) == line_of(text, "target", 2)
    assert str(cfg.error(("positions", 1, "strategy"), "no such strategy", "x")) == (
        f"{tmp_path / 'posman.toml'}:{line_of(text, '[[positions]]', 2)}: positions[1].strategy: no such strategy; got 'x'")


def test_parse_config_without_a_file():
    cfg = parse_config(MINIMAL)
    assert cfg.source == "<config>" and cfg.storage.url == "sqlite:///posman.sqlite"
    with pytest.raises(ConfigError, match=r"^<config>:2: chains\.devnet\.chain_id"):
        parse_config(MINIMAL.replace("31337", "-1"))


def test_mask_url():
    assert mask_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert mask_url("https://user:secret@rpc.example.org/v2/KEY?x=1") == "https://***@rpc.example.org/***"
    assert mask_url("https://rpc.example.org/v2/abcdef") == "https://rpc.example.org/***"


def test_missing_kind_and_missing_chains():
    with pytest.raises(ConfigError, match=r"^<config>:5: protocols\[0\]\.kind: missing 'kind' \(allowed: 'aave_v3', 'uniswap_v3', 'morpho_blue', 'synthetix_perps'\)$"):
        parse_config(MINIMAL.replace('kind = "aave_v3"\n', ""))
    with pytest.raises(ConfigError, match=r"^<config>: chains: at least one \[chains.<name>\] table is required$"):
        parse_config("[runtime]\ndry_run = true\n")


def test_alerts_section_errors_are_located(tmp_path):
    base = EXAMPLE.read_text()
    text = base.replace('type = "webhook"', 'type = "webhok"')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'webhok')}: alerts.channels[1].type: unknown type (allowed: 'log', 'webhook'" in msg
    text = base.replace('url_env = "POSMAN_SLACK', 'urll_env = "POSMAN_SLACK')
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'urll_env')}: alerts.channels[1].urll_env: unknown key; did you mean 'url_env'?" in msg
    text = base.replace("[alerts.rules.health_overrides.alice]", "[alerts.rules.health_overrides.alicia]")
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'alicia')}: alerts.rules.health_overrides.alicia: no position named 'alicia'" in msg


def test_rpc_urls_are_masked_in_errors_and_repr(tmp_path):
    text = MINIMAL.replace('["http://127.0.0.1:8545"]', '["ftp://u:pw@node/KEY", "https://node/v2/KEY"]')
    msg = str(load_error(tmp_path, text))
    assert "chains.devnet.rpc_urls: RPC URL 'ftp://***@node/***' must start with http:// or https://" in msg
    assert "KEY" not in msg and "pw" not in msg
    cfg = parse_config(MINIMAL.replace("http://127.0.0.1:8545", "https://node/v2/KEY"))
    assert "KEY" not in repr(cfg.chains["devnet"]) and "KEY" not in repr(cfg)


def test_managed_position_signer_must_control_the_account(tmp_path):
    other = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    text = (MINIMAL + f'\n[signers.bob]\naddress = "{other}"\nkey_env = "POSMAN_KEY_BOB"\n'
            + positions("manage").replace('mode = "manage"', 'mode = "manage"\nsigner = "bob"'))
    msg = str(load_error(tmp_path, text))
    assert f":{line_of(text, 'signer = ')}: positions[0].signer: signer 'bob' controls {other}" in msg
    assert ALICE in msg
    ok = text.replace(f'address = "{other}"', f'address = "{ALICE}"')
    assert load_config(write(tmp_path, ok, "ok.toml")).positions[0].signer == "bob"


def test_example_strategies_bind():
    """Every position of the example config binds to its strategy (what `posman run` checks at start)."""
    from manager.runtime.strategies import bind_strategies

    cfg = load_config(EXAMPLE)
    bound = bind_strategies(cfg)
    assert set(bound) == {p.name for p in cfg.positions}
    assert bound["alice"].config.target_health == 1.5
