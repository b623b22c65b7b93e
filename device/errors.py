"""The one exception hierarchy every entryscan module raises from.

Like gpiozero, each error also derives from the matching builtin so callers can
catch either ours or the builtin they already expect.
"""

from __future__ import annotations


class EntryscanError(Exception):
    """Base of every error entryscan raises on purpose."""


MAX_KEY_CHARS = 64
MAX_PROBLEM_CHARS = 200


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (control characters escaped) and at most ``limit`` characters."""
    flat = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit * 2])
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ConfigError(EntryscanError, ValueError):
    """The configuration is missing, malformed or impossible; exit status 78.

    The message is always one short line: a hostile config (a 2 MB id, a key with a newline)
    must not turn the one error line into megabytes of log.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = one_line(key, MAX_KEY_CHARS)
        self.problem = one_line(problem, MAX_PROBLEM_CHARS)
        super().__init__(f"{self.key}: {self.problem}")


class JournalTooNew(ConfigError):
    """The journal was written by a newer entryscan than this one (its schema version is higher than this firmware
    knows). Guessing at a newer layout could lose undelivered rows, so it refuses: exit 78, which systemd does not
    restart; the fix is to install the newer version again."""


class StorageError(EntryscanError, OSError):
    """The device's own storage failed (disk full, I/O error): not a config error, so exit 70 and
    systemd retries, instead of 78 which it never retries."""


class CameraError(EntryscanError, OSError):
    """The camera could not be opened or stopped delivering frames."""


class CameraStalled(CameraError, TimeoutError):  # type: ignore[misc]
    """No frame arrived within the capture timeout."""


class GpioError(EntryscanError, OSError):
    """The GPIO lines cannot be reached (no lgpio, no /dev/gpiochip, a pin factory that does not load)."""


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
