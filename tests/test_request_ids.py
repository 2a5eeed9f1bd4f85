"""The front door's request ids: what `uuid.uuid4().hex` made, drawn from a buffer of
random bytes (microspace/lane/front_door.py `_RequestIds`)."""

from __future__ import annotations

import copy
import os
import uuid

from microspace.lane.front_door import _RequestIds


def test_request_ids_are_distinct_version_4_uuids_across_refills() -> None:
    ids = _RequestIds()
    drawn = [ids.next() for _ in range(1000)]  # about four buffers of 256 ids
    assert len(set(drawn)) == len(drawn)
    for value in drawn:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value  # 32 lowercase hex digits, as uuid4().hex
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_process_draws_its_own_ids() -> None:
    parent = _RequestIds()
    parent.next()
    child = copy.copy(parent)  # a fork's child holds the same buffer
    assert copy.copy(parent).next() == parent.next()  # which would repeat the parent's ids
    child.forget()  # what the child runs after a fork (os.register_at_fork)
    assert child.next() != parent.next()


def test_the_front_doors_ids_are_drawn_again_in_a_forked_child() -> None:
    from microspace.lane import front_door

    front_door._ids.next()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent, and out at once
        os.write(write, front_door._ids.next().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child != front_door._ids.next()
