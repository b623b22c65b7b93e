"""The one exception hierarchy every entryscan module raises from.

Like gpiozero, each error also derives from the matching builtin so callers can
catch either ours or the builtin they already expect.
"""

from __future__ import annotations


class EntryscanError(Exception):
    """Base of every error entryscan raises on purpose."""


class ConfigError(EntryscanError, ValueError):
    """The configuration is missing, malformed or impossible; exit status 78."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class StorageError(EntryscanError, OSError):
    """The device's own storage failed (disk full, I/O error): not a config error, so exit 70 and
    systemd retries, instead of 78 which it never retries."""


class CameraError(EntryscanError, OSError):
    """The camera could not be opened or stopped delivering frames."""


class CameraStalled(CameraError, TimeoutError):  # type: ignore[misc]
    """No frame arrived within the capture timeout."""


class DecoderError(EntryscanError, RuntimeError):
    """A decoder backend is unavailable or failed."""


class JournalError(EntryscanError, OSError):
    """The local journal could not be read or written."""


class CredentialError(EntryscanError, ValueError):
    """A presented credential could not be parsed or verified.

    ``reason`` is one of the stable reason codes from :class:`entryscan.device.model.Reason`.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class NotProvisioned(EntryscanError, RuntimeError):
    """The device was wiped and refuses to run until provisioned again."""
