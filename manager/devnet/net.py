"""The devnet as an object: an owned anvil with the real Aave V3 + Uniswap V3 deployment loaded.

The first start deploys everything (about a hundred transactions) and caches the chain state under
``.cache/devnet/<key>/`` where the key hashes the anvil version, ``package-lock.json`` and the deploy
code. Later starts load that state into a fresh anvil in well under a second.

Time after loading: ``time_mode="continue"`` stamps the next block right after the cached last block
(deterministic: no interest accrues for the gap; what tests use). ``time_mode="now"`` moves the chain
to the wall clock and refreshes every feed with a new round, so oracle ages and head age look like a
live chain (what ``posman devnet up`` and the demo use).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from manager.devnet import market as M
from manager.devnet.anvil import ANVIL_BIN, DEFAULT_MNEMONIC, Anvil, anvil_binary
from manager.devnet.artifacts import wait_receipt
from manager.errors import DevnetError

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "devnet"
STATE_FORMAT = 1
# The address-book sections that ``info()`` copies into ``devnet.json`` (what ``attach`` reads back).
_BOOK_KEYS = ("aave", "tokens", "decimals", "feeds", "uniswap", "multicall", "multicall_kind", "morpho", "synthetix",
             "executors")


def derive_accounts() -> dict[str, tuple[str, str]]:
    """{name: (address, private key hex)} for anvil's well-known test mnemonic (devnet only)."""
    cache = CACHE_DIR / "accounts.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
        if len(data) >= len(M.ACCOUNT_INDEX):
            return {k: (v[0], v[1]) for k, v in data.items()}
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    out = {}
    for name, idx in M.ACCOUNT_INDEX.items():
        acct = Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{idx}")
        out[name] = (acct.address, "0x" + acct.key.hex().removeprefix("0x"))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    return out


def cache_key() -> str:
    h = hashlib.sha256()
    h.update(f"format={STATE_FORMAT}".encode())
    binary = anvil_binary()
    h.update(str(binary.stat().st_size).encode())
    pkg = json.loads((binary.parents[1] / "package.json").read_text())
    h.update(pkg["version"].encode())
    lock = ROOT / "package-lock.json"
    if lock.is_file():
        h.update(lock.read_bytes())
    for name in ("deploy.py", "market.py", "artifacts.py", "compile.py", "net.py"):
        h.update((Path(__file__).with_name(name)).read_bytes())
    # Morpho Blue (manager/devnet/morpho.py + its devnet contracts)
    from manager.devnet.morpho import SOURCE_FILES as MORPHO_FILES

    for name in MORPHO_FILES:
        h.update((Path(__file__).parent / name).read_bytes())
    h.update((Path(__file__).with_name("synthetix.py")).read_bytes())  # Synthetix PerpsV2 (synthetix.py)
    from manager.devnet.executor import SOURCE_FILES as EXECUTOR_FILES  # posman's atomic executors

    for name in EXECUTOR_FILES:
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


@dataclass
class Devnet:
    node: Anvil
    book: dict[str, Any]
    accounts: dict[str, tuple[str, str]]
    _w3: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def w3(self) -> Any:
        if self._w3 is None:
            from web3 import Web3

            self._w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 30}))
        return self._w3

    def address(self, name: str) -> str:
        return self.accounts[name][0]

    # --- lifecycle ---------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        *,
        port: int | None = None,
        time_mode: str = "continue",
        block_time_s: float | None = None,
        detach: bool = False,
        log_path: Path | None = None,
        rebuild: bool = False,
    ) -> Devnet:
        state_file, book = ensure_state(rebuild=rebuild)
        node = Anvil.start(port, detach=detach, log_path=log_path, load_state=state_file)
        try:
            net = cls(node=node, book=book, accounts=derive_accounts())
            last = net.w3.eth.get_block("latest")
            if time_mode == "now":
                now = int(time.time())
                node.call("anvil_setTime", [max(now, int(last["timestamp"]) + 1)])
                net.refresh_feeds()
            else:
                node.call("anvil_setTime", [int(last["timestamp"]) + 1])
            if block_time_s:
                node.call("evm_setIntervalMining", [max(1, round(block_time_s))])
            return net
        except BaseException:
            node.stop()
            raise

    @classmethod
    def attach(cls, info: dict[str, Any]) -> Devnet:
        """The running devnet another process started, from its ``devnet.json`` (``info()``).

        The node is not owned: ``stop()`` leaves it running.
        """
        url = urlsplit(info["rpc_url"])
        node = Anvil(port=url.port or 0, host=url.hostname or "127.0.0.1", chain_id=info["chain_id"])
        book = {key: info[key] for key in _BOOK_KEYS if key in info}
        accounts = {name: (a["address"], a["private_key"]) for name, a in info["accounts"].items()}
        return cls(node=node, book=book, accounts=accounts)

    def stop(self) -> None:
        self.node.stop()

    def __enter__(self) -> Devnet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- chain helpers ---------------------------------------------------------------------------
    def contract(self, abi_name: str, address: str) -> Any:
        from manager.chain.abi import load_abi

        return self.w3.eth.contract(address=address, abi=load_abi(abi_name))

    def feed(self, symbol: str) -> Any:
        if symbol not in self.book["feeds"]:
            raise DevnetError(f"unknown asset {symbol!r}; known: {', '.join(self.book['feeds'])}")
        return self.contract("chainlink/MockV3Aggregator", self.book["feeds"][symbol])

    def transact(self, fn: Any, sender: str | None = None, value: int = 0) -> Any:
        tx = fn.transact({"from": sender or self.address("deployer"), "value": value})
        if not self.node.call("anvil_getAutomine"):  # interval mining: don't wait for the next tick
            self.node.call("evm_mine")
        return wait_receipt(self.w3, tx, getattr(fn, "fn_name", "tx"))

    def refresh_feeds(self) -> None:
        """A new round with the same answer on every feed (updatedAt = the new block's time)."""
        for sym in self.book["feeds"]:
            f = self.feed(sym)
            self.transact(f.functions.updateAnswer(f.functions.latestAnswer().call()))

    def set_price(self, symbol: str, usd: float, *, arbitrage: bool = True) -> dict[str, Any]:
        """Move SYMBOL's Chainlink feed (the Aave oracle follows) and arbitrage its Uniswap pools to it."""
        if not isinstance(usd, (int, float)) or not math.isfinite(usd) or usd <= 0:
            raise DevnetError(f"price must be a positive number of USD, got {usd!r}")
        feed = self.feed(symbol)
        answer = round(usd * 10**8)
        if answer <= 0:
            raise DevnetError(f"price {usd!r} USD is below the feed's resolution (1e-8)")
        self.transact(feed.functions.updateAnswer(answer))
        moved = {}
        if arbitrage:
            for key in self.book["uniswap"]["pools"]:
                a, b, _fee = key.split("/")
                if symbol in (a, b):
                    moved[key] = self.align_pool(key)
        return {"symbol": symbol, "answer": answer, "pools": moved}

    def oracle_price(self, symbol: str) -> int:
        return int(self.feed(symbol).functions.latestAnswer().call())

    def align_pool(self, key: str) -> int:
        """Swap (as the deployer, who owns the pool liquidity) until the pool price equals the oracle ratio."""
        from manager.devnet.deploy import sqrt_price_x96

        a, b, fee = key.split("/")
        pool = self.contract("uniswap_v3/UniswapV3Pool", self.book["uniswap"]["pools"][key])
        t0 = pool.functions.token0().call()
        s0, s1 = (a, b) if t0 == self.book["tokens"][a] else (b, a)
        target = sqrt_price_x96(self.oracle_price(s0) / 1e8, self.oracle_price(s1) / 1e8,
                                self.book["decimals"][s0], self.book["decimals"][s1])
        current = pool.functions.slot0().call()[0]
        if current == target:
            return current
        router = self.contract("uniswap_v3/SwapRouter", self.book["uniswap"]["router"])
        zero_for_one = target < current  # selling token0 lowers the price
        tin, tout = (s0, s1) if zero_for_one else (s1, s0)
        params = (self.book["tokens"][tin], self.book["tokens"][tout], int(fee), self.address("deployer"), 2**40,
                  10**40, 0, target)
        self.transact(router.functions.exactInputSingle(params))
        return int(pool.functions.slot0().call()[0])

    def mine(self, n: int = 1) -> None:
        self.node.call("anvil_mine", [hex(n)])

    def snapshot(self) -> str:
        return str(self.node.call("evm_snapshot"))

    @contextmanager
    def reverted(self) -> Iterator[Devnet]:
        """Snapshot the chain, and revert to it on leaving (what a per-test fixture does)."""
        snap = self.snapshot()
        try:
            yield self
        finally:
            self.revert(snap)

    def revert(self, snap: str) -> None:
        if not self.node.call("evm_revert", [snap]):
            raise DevnetError(f"evm_revert({snap}) failed")
        # NOTE: evm_revert restores state but not anvil's clock: a test that moved time forward
        # (evm_increaseTime) would leave every later test in the future. Put the clock back right
        # after the restored head so each test starts where the snapshot was taken.
        head = self.node.call("eth_getBlockByNumber", ["latest", False])
        self.node.call("anvil_setTime", [int(head["timestamp"], 16)])  # type: ignore[index]

    def info(self) -> dict[str, Any]:
        """The ``devnet.json`` document."""
        return {
            "rpc_url": self.url,
            "chain_id": self.node.chain_id,
            "anvil": {"pid": self.node.process.pid if self.node.process else None, "port": self.node.port,
                      "binary": str(ANVIL_BIN)},
            "aave": self.book["aave"],
            "tokens": self.book["tokens"],
            "decimals": self.book["decimals"],
            "feeds": self.book["feeds"],
            "uniswap": self.book["uniswap"],
            "multicall": self.book["multicall"],
            "multicall_kind": self.book["multicall_kind"],
            "accounts": {name: {"address": a, "private_key": k} for name, (a, k) in self.accounts.items()},
            "seeded_positions": {s.name: s.note for s in M.SEEDS},
            "morpho": self.book.get("morpho", {}),
            "synthetix": self.book.get("synthetix", {}),
            "executors": self.book.get("executors", {}),
        }


def ensure_state(rebuild: bool = False) -> tuple[Path, dict[str, Any]]:
    """Return (state file for ``anvil --load-state``, address book), deploying and caching on first use."""
    key = cache_key()
    d = CACHE_DIR / key
    state_file, book_file = d / "state.json", d / "book.json"
    if not rebuild and state_file.is_file() and book_file.is_file():
        return state_file, json.loads(book_file.read_text())
    from web3 import Web3

    from manager.devnet.deploy import deploy_all, seed_positions

    accounts = derive_accounts()
    with Anvil.start() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        addr = {k: v[0] for k, v in accounts.items()}
        book = deploy_all(w3, addr)
        seed_positions(w3, book, addr)
        # Morpho Blue (second lending protocol): deploy + seed, see manager/devnet/morpho.py
        from manager.devnet.morpho import deploy_morpho, seed_morpho

        book["morpho"] = deploy_morpho(w3, book, addr)
        seed_morpho(w3, book, addr)
        # Synthetix PerpsV2 (perp protocol): deploy + seed, see manager/devnet/synthetix.py
        from manager.devnet.synthetix import deploy_synthetix, seed_synthetix

        book["synthetix"] = deploy_synthetix(w3, book, addr)
        seed_synthetix(w3, book, addr)
        from manager.devnet.executor import deploy_executors  # one PosmanExecutor per managed signer, granted

        book["executors"] = deploy_executors(w3, book, addr)
        node.call("anvil_mine", ["0x1"])
        state_hex = str(node.call("anvil_dumpState"))
    d.mkdir(parents=True, exist_ok=True)
    # anvil_dumpState gives gzip bytes as hex; --load-state reads the plain JSON document.
    tmp = state_file.with_suffix(".tmp")
    tmp.write_bytes(gzip.decompress(bytes.fromhex(state_hex.removeprefix("0x"))))
    book_file.write_text(json.dumps(book, indent=1))
    tmp.replace(state_file)
    return state_file, book
