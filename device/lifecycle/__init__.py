"""The device's lifecycle: wipe personal data and keys, and provision a wiped device again.

May import delivery, access, config and the root's shared modules (rank 4).
"""
