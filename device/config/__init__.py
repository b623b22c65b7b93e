"""Configuration: the strict TOML schema walker, the frozen settings it builds, and the state paths they imply.

Imports only the root's errors; every other wing reads its settings from here (rank 1).
"""
