"""Protocol adapters: one package per protocol (reads, decode, encode, protocol-exact math)."""
