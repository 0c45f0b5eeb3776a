// Print, as JSON on stdout, the addresses posman's address table needs, read from the pinned npm packages:
//   @aave-dao/aave-address-book  every AaveV3<Market>: CHAIN_ID, POOL, POOL_ADDRESSES_PROVIDER, ORACLE,
//                                AAVE_PROTOCOL_DATA_PROVIDER
//   @uniswap/sdk-core            CHAIN_TO_ADDRESSES_MAP (v3 factory, quoter, TickLens, interface multicall)
//                                and SWAP_ROUTER_02_ADDRESSES(chainId)
//   @morpho-org/blue-sdk         addresses[chainId].morpho, .adaptiveCurveIrm
//   viem/chains                  every chain's name and contracts.multicall3.address
//   viem (constants/contracts)   multicall3Bytecode: Multicall3's creation code ('posman multicall deploy')
// Run by manager/data/gen_addresses.py (which normalizes and writes manager/data/addresses.json); offline.
"use strict";
const path = require("path");
const root = path.resolve(process.argv[2] || process.cwd());
const req = (name) => require(require.resolve(name, { paths: [root] }));
const fs = require("fs");
const version = (name) => JSON.parse(fs.readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8")).version;

const aave = req("@aave-dao/aave-address-book");
const markets = [];
for (const [key, m] of Object.entries(aave)) {
  if (!/^AaveV3[A-Za-z0-9]+$/.test(key) || typeof m !== "object" || m === null || !m.POOL) continue;
  markets.push({
    market: key, chain_id: Number(m.CHAIN_ID), pool: m.POOL, pool_addresses_provider: m.POOL_ADDRESSES_PROVIDER,
    oracle: m.ORACLE, data_provider: m.AAVE_PROTOCOL_DATA_PROVIDER,
  });
}

const sdk = req("@uniswap/sdk-core");
const uniswap = {};
for (const [id, a] of Object.entries(sdk.CHAIN_TO_ADDRESSES_MAP)) {
  let router02 = null;
  try { router02 = sdk.SWAP_ROUTER_02_ADDRESSES(Number(id)) || null; } catch (e) { router02 = null; }
  uniswap[id] = {
    factory: a.v3CoreFactoryAddress || null, quoter: a.quoterAddress || null, tick_lens: a.tickLensAddress || null,
    interface_multicall: a.multicallAddress || null, swap_router_02: router02,
  };
}

const blue = req("@morpho-org/blue-sdk");
const morpho = {};
for (const [id, a] of Object.entries(blue.addresses)) {
  if (a && a.morpho) morpho[id] = { morpho: a.morpho, adaptive_curve_irm: a.adaptiveCurveIrm || null };
}

const chains = {};
for (const c of Object.values(req("viem/chains"))) {
  if (!c || typeof c !== "object" || typeof c.id !== "number") continue;
  const mc = c.contracts && c.contracts.multicall3 ? c.contracts.multicall3.address : null;
  (chains[c.id] = chains[c.id] || []).push({ name: c.name, testnet: !!c.testnet, multicall3: mc });
}

// viem's Multicall3 creation code (constant multicall3Bytecode; not in its package exports, read by path)
const viemContracts = require(path.join(root, "node_modules", "viem", "_cjs", "constants", "contracts.js"));

process.stdout.write(JSON.stringify({
  multicall3_creation_code: viemContracts.multicall3Bytecode,
  versions: {
    "@aave-dao/aave-address-book": version("@aave-dao/aave-address-book"),
    "@uniswap/sdk-core": version("@uniswap/sdk-core"),
    "@morpho-org/blue-sdk": version("@morpho-org/blue-sdk"),
    "viem": version("viem"),
  },
  aave: markets, uniswap, morpho, chains,
}));
