"""posman configuration: strict pydantic schema (``schema``) loaded from TOML with located errors.

    from manager.config import load_config
    cfg = load_config("configs/example.toml")
    cfg.chains["devnet"].rpc_urls
    raise cfg.error(("positions", 0, "params", "target"), "must be above 1.0", 0.9)

Every problem is a ``ConfigError`` whose message is one line: file, line, field path, bad value and
what is allowed. ``configs/example.toml`` documents every key.
"""

from manager.config.loader import load_config, params_error, parse_config
from manager.config.report import format_loc
from manager.config.schema import (
    AaveV3Config,
    ChainConfig,
    Config,
    LimitsConfig,
    OraclesConfig,
    PoolWatchConfig,
    PositionConfig,
    ProtocolConfig,
    RuntimeConfig,
    SignerConfig,
    StorageConfig,
    UniswapV3Config,
    mask_url,
)
from manager.config.types import MULTICALL3_ADDRESS, check_address, to_checksum

__all__ = [
    "MULTICALL3_ADDRESS",
    "AaveV3Config",
    "ChainConfig",
    "Config",
    "LimitsConfig",
    "OraclesConfig",
    "PoolWatchConfig",
    "PositionConfig",
    "ProtocolConfig",
    "RuntimeConfig",
    "SignerConfig",
    "StorageConfig",
    "UniswapV3Config",
    "check_address",
    "format_loc",
    "load_config",
    "mask_url",
    "params_error",
    "parse_config",
    "to_checksum",
]
