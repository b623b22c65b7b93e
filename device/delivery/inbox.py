"""What the device subscribes to, and what each incoming message asks of the publisher.

Five sources, all untrusted: Home Assistant's birth message (re-send discovery),
signed site lists (into the list store, alerts into the journal), remote
commands (a result to publish), the collector's delivery confirmations, and
peer doors' entry events (passages for anti-passback, see access.peers). The publisher's delivery thread calls ``handle``
from paho's on_message; nothing here raises on hostile input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from entryscan.device.delivery.commands import CommandDispatcher, CommandResult, Handler
from entryscan.device.delivery.confirm import Confirmation, parse_confirmation
from entryscan.device.delivery.journal import Journal
from entryscan.device.delivery.topics import Topics
from entryscan.device.ports import Clock

if TYPE_CHECKING:
    from entryscan.device.access.lists import ListStore
    from entryscan.device.access.peers import PeerPassages
    from entryscan.device.delivery.listsync import ListFeed


@dataclass(frozen=True)
class Reaction:
    rediscover: bool = False
    result: CommandResult | None = None
    confirmation: Confirmation | None = None


class Inbox:
    def __init__(self, topics: Topics, clock: Clock, *, discovery: bool, lists: ListStore | None,
                 commands: Mapping[str, Handler] | None, confirmations: bool = True,
                 peers: PeerPassages | None = None) -> None:
        self._topics = topics
        self._peers = peers
        self._discovery = discovery
        self._confirmations = confirmations
        self.lists: ListFeed | None = None
        if lists is not None:
            from entryscan.device.delivery.listsync import (
                ListFeed,  # imports cryptography: only when lists are configured
            )

            self.lists = ListFeed(lists, topics, clock)
        self._commands = CommandDispatcher(topics.cmd(""), commands, clock.now) if commands else None

    def filters(self) -> list[tuple[str, int]]:
        """(topic filter, QoS) to subscribe to after every CONNACK.

        Commands at QoS 0: the broker then queues none for the device while it is away, so a command never runs
        late. Everything else at QoS 1.
        """
        out = [(self._topics.ha_status, 1)] if self._discovery else []
        if self._confirmations:
            out.append((self._topics.confirm, 1))
        if self.lists is not None:
            out.append((self.lists.topic_filter, 1))
        if self._commands is not None:
            out.append((self._topics.cmd_filter, 0))
        if self._peers is not None:
            out.append((self._topics.site_entries, 1))
        return out

    def handle(self, topic: str, payload: bytes, journal: Journal | None, retained: bool = False) -> Reaction:
        if self._confirmations and topic == self._topics.confirm:
            return Reaction(confirmation=parse_confirmation(payload))
        if self._peers is not None:
            sender = self._topics.entry_sender(topic)
            if sender is not None:
                self._peers.handle(sender, payload)
                return Reaction()
        if self.lists is not None and journal is not None and self.lists.handle(topic, payload, journal):
            return Reaction()
        if self._commands is not None:
            result = self._commands.handle(topic, payload, retained)
            if result is not None:
                return Reaction(result=result)
        if self._discovery and topic == self._topics.ha_status and payload.strip() == b"online":
            return Reaction(rediscover=True)
        return Reaction()
