"""Chain test fixtures: one anvil per test module (snapshot/revert per test), deployments, an HTTP proxy.

Deployed once per module: a MintableERC20 (Aave core-v3 mocks), UniswapInterfaceMulticall
(v3-periphery artifact) and Multicall3 (creation code from ``data/Multicall3.creation.hex``, see
``data/SOURCES.md``), whose runtime code is also placed at the canonical Multicall3 address.

``Proxy`` is a loopback HTTP server in front of anvil that can answer scripted failures first
(HTTP 429/500, a slow answer, a rewritten request) and counts the requests it sees.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from manager.chain.client import ChainClient
from manager.config.schema import ChainConfig
from manager.config.types import MULTICALL3_ADDRESS, to_checksum
from manager.devnet.anvil import Anvil

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
UNI_MULTICALL_ARTIFACT = (
    ROOT / "node_modules/@uniswap/v3-periphery/artifacts/contracts/lens/"
    "UniswapInterfaceMulticall.sol/UniswapInterfaceMulticall.json"
)
ERC20_ARTIFACT = ROOT / "node_modules/@aave/core-v3/artifacts/contracts/mocks/tokens/MintableERC20.sol/MintableERC20.json"

DEPLOYER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil account 0
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil account 1
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"  # anvil account 2


@dataclass
class Devnet:
    node: Anvil
    token: str
    uni_multicall: str
    multicall3: str  # where the creation code deployed it (runtime also at MULTICALL3_ADDRESS)
    token_abi: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.node.url

    def rpc(self, method: str, params: list | None = None) -> Any:
        return self.node.call(method, params)

    def send(self, to: str | None, data: bytes, sender: str = DEPLOYER) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "gas": hex(8_000_000)}
        if to is not None:
            tx["to"] = to
        tx_hash = self.rpc("eth_sendTransaction", [tx])
        receipt = None
        for _ in range(200):  # automine answers before the receipt is always queryable
            receipt = self.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            time.sleep(0.01)
        assert receipt is not None and receipt["status"] == "0x1", receipt
        return receipt  # type: ignore[return-value]

    def deploy(self, creation: bytes) -> str:
        return to_checksum(self.send(None, creation)["contractAddress"])

    def mint(self, to: str, amount: int) -> None:
        from eth_abi import encode

        from manager.chain.multicall import selector

        self.send(self.token, selector("mint(address,uint256)") + encode(["address", "uint256"], [to, amount]))

    def block_number(self) -> int:
        return int(str(self.rpc("eth_blockNumber")), 16)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", [hex(blocks)])

    def client(self, url: str | None = None, **overrides: Any) -> ChainClient:
        kwargs = {"sleep": overrides.pop("sleep", lambda s: None)}
        cfg = ChainConfig(**{"chain_id": 31337, "rpc_urls": [url or self.url], "max_retries": 1,
                             "request_timeout_s": 5, "multicall": self.uni_multicall,
                             "multicall_kind": "uniswap_interface", **overrides})
        return ChainClient("devnet", cfg, **kwargs)


def _artifact_bytecode(path: Path) -> bytes:
    data = json.loads(path.read_text())
    return bytes.fromhex(data["bytecode"][2:])


@pytest.fixture(scope="module")
def devnet() -> Iterator[Devnet]:
    from eth_abi import encode

    with Anvil.start() as node:
        net = Devnet(node=node, token="", uni_multicall="", multicall3="")
        token_args = encode(["string", "string", "uint8"], ["Test USD", "TUSD", 6])
        net.token = net.deploy(_artifact_bytecode(ERC20_ARTIFACT) + token_args)
        net.token_abi = json.loads(ERC20_ARTIFACT.read_text())["abi"]
        net.uni_multicall = net.deploy(_artifact_bytecode(UNI_MULTICALL_ARTIFACT))
        net.multicall3 = net.deploy(bytes.fromhex((DATA / "Multicall3.creation.hex").read_text().strip()[2:]))
        runtime = net.rpc("eth_getCode", [net.multicall3, "latest"])
        net.rpc("anvil_setCode", [MULTICALL3_ADDRESS, runtime])
        net.mine()
        yield net


@pytest.fixture(autouse=True)
def _isolate(request: pytest.FixtureRequest) -> Iterator[None]:
    """Snapshot before each test that uses the devnet, revert after."""
    if "devnet" not in request.fixturenames:
        yield
        return
    net: Devnet = request.getfixturevalue("devnet")
    snap = net.rpc("evm_snapshot")
    yield
    assert net.rpc("evm_revert", [snap]) is True


# ------------------------------------------------------------------------------------------------
# a scriptable HTTP proxy in front of anvil
# ------------------------------------------------------------------------------------------------
class Proxy:
    """Loopback JSON-RPC proxy. ``fail_with`` statuses are answered first, one per request."""

    def __init__(self, upstream: str | None) -> None:
        self.upstream = upstream
        self.fail_with: list[int] = []
        self.delay_s = 0.0
        self.rewrite: Callable[[Any], Any] | None = None
        self.chain_id_hex: str | None = None  # answer eth_chainId with this instead of forwarding
        self.requests: list[Any] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(body)
                with proxy.lock:
                    proxy.requests.append(payload)
                    status = proxy.fail_with.pop(0) if proxy.fail_with else 200
                if proxy.delay_s:
                    time.sleep(proxy.delay_s)
                if status != 200:
                    self._reply(status, b'{"error": "scripted failure"}')
                    return
                if proxy.chain_id_hex and isinstance(payload, dict) and payload.get("method") == "eth_chainId":
                    answer = {"jsonrpc": "2.0", "id": payload["id"], "result": proxy.chain_id_hex}
                    self._reply(200, json.dumps(answer).encode())
                    return
                if proxy.rewrite is not None:
                    payload = proxy.rewrite(payload)
                assert proxy.upstream is not None
                req = urllib.request.Request(proxy.upstream, data=json.dumps(payload).encode(),
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    self._reply(200, resp.read())

            def _reply(self, status: int, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def methods(self) -> list[str]:
        out = []
        for req in self.requests:
            for item in req if isinstance(req, list) else [req]:
                out.append(item["method"])
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(devnet: Devnet) -> Iterator[Proxy]:
    p = Proxy(devnet.url)
    yield p
    p.close()
