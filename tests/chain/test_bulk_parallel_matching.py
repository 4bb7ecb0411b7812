"""The matcher's process-wide caches (a block too common to read, the registry's size) across
the optimistic units of a worker's bulk chunks (shared/services/matching.py `_stable`): learnt in
one unit, used by the next without a read — so a block every chunk writes to does not make
every chunk conflict, and it is skipped exactly as the serial path skips it."""

from __future__ import annotations

from shared.matching.profile import Profile
from shared.services import matching
from shared.store.matchindex import MatchIndex
from shared.store.optimistic import OptimisticUnit
from shared.store.sqlite import SqliteStore

COMMON = Profile(given="Jo", family="Smith")


def test_a_block_too_common_to_read_is_skipped_by_the_next_unit_without_a_read(tmp_path):
    store = SqliteStore(str(tmp_path / "roster.db"))
    for n in range(matching.BLOCK_LIMIT + 1):
        MatchIndex(store).file(f"p{n:04d}", None, COMMON)
    first = OptimisticUnit(store)
    learnt = matching.find(first, COMMON)
    first.commit()
    second = OptimisticUnit(store)
    found = matching.find(second, COMMON)
    MatchIndex(store).file("a0000", None, COMMON)  # another chunk files one more Jo Smith meanwhile
    second.commit()  # no Conflict: the block was not read again

    assert learnt.skipped_blocks == found.skipped_blocks >= 1
    assert found.candidates == learnt.candidates == []
    store.close()
