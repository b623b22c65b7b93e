"""The access decision: credential verifiers, policy modes, signed lists, one-time use and anti-passback, clock trust.

May import the root's shared modules and config (rank 2).
"""
