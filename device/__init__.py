"""entryscan: firmware for unattended QR entry scanners."""

__version__ = "0.1.0"
