"""entryscan's firmware: everything that runs on the scanner, installed as ``entryscan.device``.

Wings, lowest first (a module may import its own wing, the root's shared modules and lower ranks only):
root shared (errors, model, ports, keys, sqlitedb) < config < hardware, access < scan, delivery < lifecycle
< composition root (builder, daemon) < cli.
"""

__version__ = "0.1.0"
