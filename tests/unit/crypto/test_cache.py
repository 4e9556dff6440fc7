"""The data-key cache: unwraps once, forgets after its TTL, stays bounded, forgets on erasure."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from datetime import timedelta

import pytest

from welfare.crypto.cache import DataKeyCache
from welfare.crypto.cipher import DecryptionError
from welfare.crypto.envelope import WrappedKey, new_data_key, unwrap_data_key, wrap_data_key
from welfare.crypto.keyring import Keyring

TTL = timedelta(minutes=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by.total_seconds()


class CountingUnwrap:
    """Stands in for unwrap_data_key: a distinct fake key per wrapped blob, counted per call."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def __call__(self, wrapped: WrappedKey, subject_id: str) -> bytes:
        self.calls[subject_id] += 1
        return (subject_id.encode() + wrapped.blob).ljust(32, b"\x00")[:32]


def wrapped_for(subject_id: str, master_key_id: str = "mk-1") -> WrappedKey:
    return WrappedKey(master_key_id=master_key_id, blob=f"blob-of-{subject_id}".encode())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def unwrap() -> CountingUnwrap:
    return CountingUnwrap()


@pytest.fixture
def cache(clock: FakeClock) -> DataKeyCache:
    return DataKeyCache(max_entries=3, ttl=TTL, clock=clock)


def test_a_cached_key_is_unwrapped_once_and_then_served(
    cache: DataKeyCache, unwrap: CountingUnwrap
) -> None:
    first = cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    again = cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    assert unwrap.calls["a"] == 1
    assert first == again == CountingUnwrap()(wrapped_for("a"), "a")


def test_a_key_is_forgotten_once_its_ttl_has_passed(
    cache: DataKeyCache, unwrap: CountingUnwrap, clock: FakeClock
) -> None:
    cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    clock.advance(TTL - timedelta(seconds=1))
    cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    assert unwrap.calls["a"] == 1
    clock.advance(timedelta(seconds=1))
    cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    assert unwrap.calls["a"] == 2


def test_frequent_use_does_not_extend_a_keys_ttl(
    cache: DataKeyCache, unwrap: CountingUnwrap, clock: FakeClock
) -> None:
    cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    for _ in range(9):
        clock.advance(TTL / 10)
        cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    assert unwrap.calls["a"] == 1
    clock.advance(TTL / 10)
    cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    assert unwrap.calls["a"] == 2


def test_the_least_recently_used_key_is_evicted_at_the_bound(
    cache: DataKeyCache, unwrap: CountingUnwrap
) -> None:
    for subject in ("a", "b", "c"):
        cache.get_or_unwrap(subject, wrapped_for(subject), unwrap)
    cache.get_or_unwrap("a", wrapped_for("a"), unwrap)  # "b" is now the coldest
    cache.get_or_unwrap("d", wrapped_for("d"), unwrap)
    assert len(cache) == 3
    for subject in ("a", "c", "d"):
        cache.get_or_unwrap(subject, wrapped_for(subject), unwrap)
    assert unwrap.calls == Counter({"a": 1, "b": 1, "c": 1, "d": 1})
    cache.get_or_unwrap("b", wrapped_for("b"), unwrap)
    assert unwrap.calls["b"] == 2


def test_expired_keys_at_the_cold_end_are_dropped_when_a_new_one_arrives(
    cache: DataKeyCache, unwrap: CountingUnwrap, clock: FakeClock
) -> None:
    cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    cache.get_or_unwrap("b", wrapped_for("b"), unwrap)
    clock.advance(TTL)
    cache.get_or_unwrap("c", wrapped_for("c"), unwrap)
    assert len(cache) == 1


def test_invalidating_a_subject_forgets_only_that_subjects_keys(
    cache: DataKeyCache, unwrap: CountingUnwrap
) -> None:
    cache.get_or_unwrap("a", wrapped_for("a", "mk-1"), unwrap)
    cache.get_or_unwrap("a", wrapped_for("a", "mk-2"), unwrap)
    cache.get_or_unwrap("b", wrapped_for("b"), unwrap)
    cache.invalidate("a")
    assert len(cache) == 1
    cache.get_or_unwrap("b", wrapped_for("b"), unwrap)
    cache.get_or_unwrap("a", wrapped_for("a", "mk-1"), unwrap)
    assert unwrap.calls == Counter({"a": 3, "b": 1})


def test_clearing_forgets_every_key(cache: DataKeyCache, unwrap: CountingUnwrap) -> None:
    for subject in ("a", "b"):
        cache.get_or_unwrap(subject, wrapped_for(subject), unwrap)
    cache.clear()
    assert len(cache) == 0
    cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    assert unwrap.calls["a"] == 2


def test_a_rewrapped_or_replaced_key_is_never_served_from_a_stale_entry(
    cache: DataKeyCache, unwrap: CountingUnwrap
) -> None:
    old = cache.get_or_unwrap("a", WrappedKey("mk-1", b"old"), unwrap)
    new = cache.get_or_unwrap("a", WrappedKey("mk-1", b"new"), unwrap)
    assert old != new
    assert unwrap.calls["a"] == 2


def test_a_failed_unwrap_passes_through_and_caches_nothing(cache: DataKeyCache) -> None:
    def refuse(wrapped: WrappedKey, subject_id: str) -> bytes:
        raise DecryptionError("the data key could not be unwrapped")

    with pytest.raises(DecryptionError):
        cache.get_or_unwrap("a", wrapped_for("a"), refuse)
    assert len(cache) == 0


def test_an_unwrap_that_races_with_an_erasure_is_not_cached(
    cache: DataKeyCache, unwrap: CountingUnwrap
) -> None:
    def unwrap_while_erased(wrapped: WrappedKey, subject_id: str) -> bytes:
        # Another request erases the subject while this one is unwrapping.
        cache.invalidate(subject_id)
        return unwrap(wrapped, subject_id)

    cache.get_or_unwrap("a", wrapped_for("a"), unwrap_while_erased)
    assert len(cache) == 0


def test_it_serves_real_unwrapped_keys_through_unwrap_data_key() -> None:
    keyring = Keyring.generate(for_development=False)
    data_key = new_data_key()
    wrapped = wrap_data_key(keyring, data_key, "resident-1")
    cache = DataKeyCache()
    unwrap = functools.partial(unwrap_data_key, keyring)
    assert cache.get_or_unwrap("resident-1", wrapped, unwrap) == data_key
    assert cache.get_or_unwrap("resident-1", wrapped, unwrap) == data_key
    # The cache key includes the subject: a wrapped key presented for another subject unwraps
    # (and fails) rather than being served from the first subject's entry.
    with pytest.raises(DecryptionError):
        cache.get_or_unwrap("resident-2", wrapped, unwrap)


def test_concurrent_lookups_stay_correct_and_bounded(unwrap: CountingUnwrap) -> None:
    cache = DataKeyCache(max_entries=8, ttl=TTL)
    subjects = [f"s{n}" for n in range(20)]
    errors: list[str] = []

    def work(offset: int) -> None:
        for n in range(400):
            subject = subjects[(n + offset) % len(subjects)]
            got = cache.get_or_unwrap(subject, wrapped_for(subject), unwrap)
            if got != unwrap(wrapped_for(subject), subject):
                errors.append(subject)
            if n % 97 == 0:
                cache.invalidate(subject)

    threads = [threading.Thread(target=work, args=(i * 3,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 8


@pytest.mark.parametrize(
    ("max_entries", "ttl"), [(0, TTL), (1, timedelta(0)), (1, timedelta(seconds=-1))]
)
def test_a_cache_without_room_or_time_is_refused(max_entries: int, ttl: timedelta) -> None:
    with pytest.raises(ValueError, match=r"at least one|positive"):
        DataKeyCache(max_entries=max_entries, ttl=ttl)


def test_the_cache_repr_shows_no_key_material(cache: DataKeyCache, unwrap: CountingUnwrap) -> None:
    key = cache.get_or_unwrap("a", wrapped_for("a"), unwrap)
    assert key.hex() not in repr(cache)
    assert repr(key) not in repr(cache)
    assert repr(cache) == "DataKeyCache(entries=1, max_entries=3)"
