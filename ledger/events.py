"""Event base classes and the pydantic <-> bytes mapper the eventsourcing library lacks.

Every stored event is a frozen pydantic model. Its ``TOPIC`` is an explicit, stable name
(``aidledger.CaseApproved``), never the Python module path, so that moving a class does not
orphan stored events. ``timestamp`` is when the event was recorded (UTC); ``by`` is who did it.
Money fields are integer fen.

This module's annotations are evaluated when it is read (no ``from __future__ import
annotations``), and so are the library's base event classes' (`_evaluated_annotations`):
pydantic evaluates every base's annotations again for each of the hundred event classes,
and evaluating a string compiles it, a tenth of the start of every command.
"""

import inspect
from datetime import datetime
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID

import orjson
from eventsourcing.domain import BaseAggregate, CanInitAggregate, CanMutateAggregate
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, register_topic, resolve_topic
from pydantic import BaseModel, ConfigDict


def _evaluated_annotations(*classes: type) -> None:
    """Each class's own annotations evaluated in its module, in place of their strings."""
    for cls in classes:
        if cls is not object and inspect.get_annotations(cls):
            cls.__annotations__ = inspect.get_annotations(cls, eval_str=True)


_evaluated_annotations(*CanInitAggregate.__mro__, *CanMutateAggregate.__mro__)

#: An event class a classmethod builds.
E = TypeVar("E", bound="LedgerCreated")

_NOT_IN_STATE: set[str] = {"originator_id", "originator_version"}


class LedgerEvent(BaseModel, CanMutateAggregate[UUID]):
    """Base of every event aidledger stores."""

    # defer_build: a class's validator is built when first used, not when it is defined: a
    # command that reads a few kinds of event does not pay for the sixty it never meets.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    TOPIC: ClassVar[str] = ""
    originator_id: UUID
    originator_version: int
    timestamp: datetime
    by: str


class LedgerCreated(LedgerEvent, CanInitAggregate[UUID]):
    """Base of the first event of an aggregate."""

    originator_topic: str


class LedgerAggregate(BaseAggregate[UUID]):
    """Base of aidledger aggregates: small, with ids derived from business keys."""

    class Event(LedgerEvent):
        pass

    class Created(Event, LedgerCreated):
        pass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every event class of an aggregate already derives from ``LedgerAggregate.Event``:
        # with these two bases named as the aggregate's own, the library keeps its classes
        # as written. Otherwise it gives each aggregate bases of its own and defines each of
        # its event classes a second time under them: two pydantic models built per event
        # (13% of the instructions of `case history` as a whole process). Which aggregate an
        # event is of: `aggregate_of`.
        for name in ("Event", "Created"):
            if name not in cls.__dict__:
                setattr(cls, name, getattr(LedgerAggregate, name))
        super().__init_subclass__(**kwargs)

    @classmethod
    def first_event(cls, event_class: type[E], aggregate_id: UUID, **fields: Any) -> E:
        """The event that creates the aggregate ``aggregate_id`` of this class, built without
        the aggregate (bulk paths record millions of these): what the library's ``_create``
        records."""
        return event_class(
            originator_id=aggregate_id,
            originator_version=cls.INITIAL_VERSION,
            timestamp=event_class.create_timestamp(),
            originator_topic=get_topic(cls),
            **fields,
        )


#: The aggregate class each event class was written in (`register_event_topics`).
_AGGREGATE_OF: dict[type, type[BaseAggregate[UUID]]] = {}


def aggregate_of(event: LedgerEvent) -> type[BaseAggregate[UUID]] | None:
    """The aggregate class whose event ``event`` is (``Payment`` for ``Payment.Amended``)."""
    return _AGGREGATE_OF.get(type(event))


def register_event_topics(aggregate_class: type[BaseAggregate[UUID]], topic: str) -> None:
    """Register an aggregate and each of its event classes under explicit, stable topics.

    Called once after each aggregate class is defined, so that stored events resolve to
    their classes in a fresh process without importing by module path. The aggregate's
    topic is set after class creation on purpose: set in the class body, the library
    would demand topics on the base event classes, which are never stored.
    """
    aggregate_class.TOPIC = topic  # type: ignore[attr-defined]
    register_topic(topic, aggregate_class)
    for name in dir(aggregate_class):
        obj = getattr(aggregate_class, name)
        if isinstance(obj, type) and issubclass(obj, LedgerEvent) and obj.TOPIC:
            register_topic(obj.TOPIC, obj)
            # get_topic() gives the explicit topic for the class from now on.
            get_topic(obj)
            if name in vars(aggregate_class):
                _AGGREGATE_OF[obj] = aggregate_class


def event_type_name(event: LedgerEvent) -> str:
    """The short name of an event, as shown to auditors (``CaseApproved``)."""
    return event.TOPIC.rsplit(".", 1)[-1] if event.TOPIC else type(event).__name__


class OrjsonTranscoder(Transcoder):
    """JSON bytes via orjson (used for decoding; encoding goes through pydantic)."""

    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class PydanticMapper(Mapper[UUID]):
    """Turns pydantic events into stored bytes and back, through the optional cipher."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        event = cast(LedgerEvent, domain_event)
        cls = type(event)
        state: bytes = cls.__pydantic_serializer__.to_json(event, exclude=_NOT_IN_STATE)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=event.originator_id,
            originator_version=event.originator_version,
            topic=get_topic(cls),
            state=state,
        )

    def data_of(self, stored_event: StoredEvent) -> dict[str, Any]:
        """A stored event's fields as written (JSON values: a date as its ISO text), without
        building the event: for a check that compares a few of them with a row."""
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        data: dict[str, Any] = orjson.loads(state)
        return data

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        data = self.data_of(stored_event)
        originator_id = stored_event.originator_id
        data["originator_id"] = (
            originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        )
        data["originator_version"] = stored_event.originator_version
        cls: type[LedgerEvent] = resolve_topic(stored_event.topic)
        return cls.model_validate(data)
