"""What the device subscribes to, and what each incoming message asks of the publisher.

Three sources, all untrusted: Home Assistant's birth message (re-send discovery),
signed site lists (into the list store, alerts into the journal) and remote
commands (a result to publish). The publisher's delivery thread calls ``handle``
from paho's on_message; nothing here raises on hostile input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from entryscan.device.delivery.commands import CommandDispatcher, CommandResult, Handler
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.topics import Topics
from entryscan.device.ports import Clock

if TYPE_CHECKING:
    from entryscan.device.access.lists import ListStore
    from entryscan.device.delivery.listsync import ListFeed


@dataclass(frozen=True)
class Reaction:
    rediscover: bool = False
    result: CommandResult | None = None


class Inbox:
    def __init__(self, topics: Topics, clock: Clock, *, discovery: bool, lists: ListStore | None,
                 commands: Mapping[str, Handler] | None) -> None:
        self._topics = topics
        self._discovery = discovery
        self.lists: ListFeed | None = None
        if lists is not None:
            from entryscan.device.delivery.listsync import (
                ListFeed,  # imports cryptography: only when lists are configured
            )

            self.lists = ListFeed(lists, topics, clock)
        self._commands = CommandDispatcher(topics.cmd(""), commands) if commands else None

    def filters(self) -> list[str]:
        """Topic filters to subscribe to after every CONNACK."""
        out = [self._topics.ha_status] if self._discovery else []
        if self.lists is not None:
            out.append(self.lists.topic_filter)
        if self._commands is not None:
            out.append(self._topics.cmd_filter)
        return out

    def handle(self, topic: str, payload: bytes, journal: Journal | None) -> Reaction:
        if self.lists is not None and journal is not None and self.lists.handle(topic, payload, journal):
            return Reaction()
        if self._commands is not None:
            result = self._commands.handle(topic, payload)
            if result is not None:
                return Reaction(result=result)
        if self._discovery and topic == self._topics.ha_status and payload.strip() == b"online":
            return Reaction(rediscover=True)
        return Reaction()
