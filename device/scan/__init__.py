"""The scan path: camera adapters, decoders, the frame scanner, debounce and the scan loop that turns frames into decisions.

May import access (the loop asks the policy), hardware, config and the root's shared modules (rank 3).
"""
