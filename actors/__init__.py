"""The actor runtime: msgpack envelopes over nng, supervised actors, location-transparent refs."""

from actors.actor import Actor, handles, handles_batch
from actors.errors import (
    ActorError,
    AskTimeout,
    ProtocolError,
    Refused,
    RemoteError,
)
from actors.message import Message, message
from actors.ring import Ring, rendezvous_owners
from actors.supervision import RestartPolicy
from actors.system import ActorRef, ActorSystem, SystemStatistics
from actors.transport import Transport, TransportConfig, TransportStatistics

__all__ = [
    "Actor",
    "ActorError",
    "ActorRef",
    "ActorSystem",
    "AskTimeout",
    "Message",
    "ProtocolError",
    "Refused",
    "RemoteError",
    "RestartPolicy",
    "Ring",
    "SystemStatistics",
    "Transport",
    "TransportConfig",
    "TransportStatistics",
    "handles",
    "handles_batch",
    "message",
    "rendezvous_owners",
]
