"""User-facing strategies: each module pairs a pydantic ``Config`` with a pure ``decide`` function."""
