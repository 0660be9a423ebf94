"""`ledger.store.EventBatch` (an import's batches) and `projections.runner.WrittenThroughBatch`
writing on a second thread (``overlap``): the transactions in order, one at a time, what was
written told on the caller's thread, and a failed one failing the batch. No database: the
application is a stand-in that records what it is given."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from ledger.sealing import CLEAR
from ledger.store import EventBatch
from projections.runner import ReadModel, WrittenThroughBatch


class _Model(ReadModel):
    name = "m"
    tables = ()
    topics = frozenset({"t"})

    def apply(self, tx: Any, events: Sequence[Any]) -> None:  # pragma: no cover - not called
        raise NotImplementedError


class _Events:
    def __init__(self, fail_on: int | None = None) -> None:
        self.put_calls: list[list[Any]] = []
        self.threads: set[str] = set()
        self.busy = False
        self.fail_on = fail_on

    def put(self, events: list[Any], **_: Any) -> None:
        assert not self.busy, "one transaction at a time"
        self.busy = True
        time.sleep(0.001)  # let the caller run ahead if it would
        self.threads.add(threading.current_thread().name)
        self.busy = False
        if self.fail_on is not None and events[0] == self.fail_on:
            raise RuntimeError("the database refused")
        self.put_calls.append(list(events))


class _App:
    def __init__(self, events: _Events) -> None:
        self.events = events


def _batches(app: _App, after_flush: Any = None) -> list[EventBatch]:
    return [
        EventBatch(app, 3, after_flush=after_flush, overlap=True),  # type: ignore[arg-type]
        WrittenThroughBatch(app, 3, [_Model()], _Model(), sealer=CLEAR, overlap=True),  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("kind", [0, 1], ids=["EventBatch", "WrittenThroughBatch"])
def test_an_overlapped_batch_writes_every_transaction_in_order_on_a_second_thread(
    kind: int,
) -> None:
    events = _Events()
    batch = _batches(_App(events))[kind]
    with batch:
        for n in range(10):
            batch.add(n)
    assert events.put_calls == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert batch.written == 10
    assert threading.current_thread().name not in events.threads


@pytest.mark.parametrize("kind", [0, 1], ids=["EventBatch", "WrittenThroughBatch"])
def test_a_failed_transaction_fails_the_overlapped_batch(kind: int) -> None:
    events = _Events(fail_on=3)
    batch = _batches(_App(events))[kind]
    with pytest.raises(RuntimeError, match="refused"), batch:
        for n in range(9):
            batch.add(n)
    assert events.put_calls == [[0, 1, 2]], "nothing written after the failed transaction"
    assert batch.written == 3, "what was written is counted (a resumed import relies on it)"


def test_the_caller_is_told_of_each_transaction_on_its_own_thread_once_it_is_written() -> None:
    events = _Events()
    told: list[tuple[int, int, str]] = []

    def after_flush(items: int) -> None:
        # What was written by then: every transaction up to this one.
        told.append((items, len(events.put_calls), threading.current_thread().name))

    batch = _batches(_App(events), after_flush)[0]
    with batch:
        for n in range(7):
            batch.add(n)
    caller = threading.current_thread().name
    assert told == [(3, 1, caller), (3, 2, caller), (1, 3, caller)]


def test_an_error_of_the_caller_lets_the_transaction_under_way_end_and_counts_it() -> None:
    events = _Events()
    batch = _batches(_App(events))[0]
    with pytest.raises(KeyError), batch:
        for n in range(4):
            batch.add(n)
        raise KeyError("the caller failed")
    assert events.put_calls == [[0, 1, 2]], "the pending events are not written"
    assert batch.written == 3
