"""``posman demo``: the whole manager on a local devnet through a scripted ETH crash (see ``scenario``)."""
