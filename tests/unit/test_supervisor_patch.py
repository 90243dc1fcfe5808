"""khabar.supervisor_patch against Airflow's real task supervisor: a forked child that closes its channels
and then takes a while to exit (a large address space to tear down, as a task forked from a worker that
preloaded Great Expectations has) must be known to have exited once its last channel is read, instead of
after a further wait with nothing left to wake the supervisor."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.unit


def _child_with_a_large_heap() -> None:
    heap = bytearray(512 << 20)
    for i in range(0, len(heap), 4096):  # touched, so that the exit has every page to unmap
        heap[i] = 1


def test_supervisor_knows_the_exit_when_the_last_channel_closes():
    from airflow.sdk.execution_time import supervisor
    from pydantic import TypeAdapter

    from khabar.supervisor_patch import notice_task_exit_promptly

    assert notice_task_exit_promptly()  # this Airflow's supervisor is the one the workaround was written for
    assert notice_task_exit_promptly()  # applied once: a second call finds it in place

    class Probe(supervisor.WatchedSubprocess):
        decoder = TypeAdapter(dict)  # the child sends no request

    proc = Probe.start(target=_child_with_a_large_heap, id=uuid.uuid4())
    rounds = 0
    while proc._open_sockets and rounds < 1000:
        proc._service_subprocess(max_wait_time=30)
        rounds += 1
    assert not proc._open_sockets
    assert proc._exit_code == 0  # known in the same round that read the last EOF
