"""The door's hardware outside the scan path: LEDs, buzzer and relay, the tamper switch, systemd supervision.

May import the root's shared modules and config (rank 2).
"""
