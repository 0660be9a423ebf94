"""`projections.runner.WrittenThroughBatch` writing on a second thread (``overlap``): the
transactions in order, one at a time, and a failed one failing the batch. No database: the
application is a stand-in that records what it is given."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from ledger.sealing import CLEAR
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


def test_an_overlapped_batch_writes_every_transaction_in_order_on_a_second_thread() -> None:
    events = _Events()
    batch = WrittenThroughBatch(_App(events), 3, [_Model()], _Model(), sealer=CLEAR, overlap=True)  # type: ignore[arg-type]
    with batch:
        for n in range(10):
            batch.add(n)
    assert events.put_calls == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert batch.written == 10
    assert threading.current_thread().name not in events.threads


def test_a_failed_transaction_fails_the_overlapped_batch() -> None:
    events = _Events(fail_on=3)
    batch = WrittenThroughBatch(_App(events), 3, [_Model()], _Model(), sealer=CLEAR, overlap=True)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="refused"), batch:
        for n in range(9):
            batch.add(n)
    assert events.put_calls == [[0, 1, 2]], "nothing written after the failed transaction"
