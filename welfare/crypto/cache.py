"""A small, bounded, time-limited cache of unwrapped data keys, so hot residents unwrap once."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta

from welfare.crypto.envelope import WrappedKey

# (subject id, master key id, wrapped blob). The blob itself is the key, not a digest of it: it
# is ciphertext, only ~50 bytes, and exact equality means a rewrapped or replaced data key can
# never be served from a stale entry.
_CacheKey = tuple[str, str, bytes]


class DataKeyCache:
    """An LRU of data keys, each kept at most `ttl` after it was unwrapped, safe across threads.

    Python cannot wipe freed bytes, so the TTL bounds how long a key stays reachable through the
    cache, not how long it may linger in process memory. Call `invalidate` when a subject's data
    key is destroyed (erasure) and `clear` when the keyring is replaced (a retired master key
    must stop being useful at once, not when the TTL runs out).
    """

    def __init__(
        self,
        *,
        max_entries: int = 1024,
        ttl: timedelta = timedelta(minutes=5),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("the cache needs room for at least one key")
        if ttl <= timedelta(0):
            raise ValueError("the TTL must be positive")
        self._max_entries = max_entries
        self._ttl_seconds = ttl.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        # Least recently used first; each value is (data key, expiry on the clock's scale).
        self._entries: OrderedDict[_CacheKey, tuple[bytes, float]] = OrderedDict()
        # Bumped by invalidate/clear, so an unwrap that raced with an erasure is not cached.
        self._epoch = 0

    def __repr__(self) -> str:  # never print key material
        return f"DataKeyCache(entries={len(self)}, max_entries={self._max_entries})"

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get_or_unwrap(
        self,
        subject_id: str,
        wrapped: WrappedKey,
        unwrap_fn: Callable[[WrappedKey, str], bytes],
    ) -> bytes:
        """The cached data key, or `unwrap_fn(wrapped, subject_id)` cached for next time.

        Typically `unwrap_fn = functools.partial(unwrap_data_key, keyring)`. Its errors pass
        through and nothing is cached for a failed unwrap.
        """
        key: _CacheKey = (subject_id, wrapped.master_key_id, wrapped.blob)
        with self._lock:
            now = self._clock()
            entry = self._entries.get(key)
            if entry is not None:
                data_key, expires_at = entry
                if now < expires_at:
                    self._entries.move_to_end(key)
                    return data_key
                del self._entries[key]
            epoch = self._epoch
        # Unwrapping happens outside the lock so one slow unwrap never stalls other requests.
        data_key = unwrap_fn(wrapped, subject_id)
        with self._lock:
            if epoch == self._epoch:
                self._store(key, data_key, self._clock())
        return data_key

    def invalidate(self, subject_id: str) -> None:
        """Forget every data key of `subject_id` (its data key was destroyed or replaced)."""
        with self._lock:
            self._epoch += 1
            for key in [k for k in self._entries if k[0] == subject_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()

    def _store(self, key: _CacheKey, data_key: bytes, now: float) -> None:
        self._entries[key] = (data_key, now + self._ttl_seconds)
        self._entries.move_to_end(key)
        # Drop expired keys from the cold end first: idle entries there are usually expired, and
        # stopping at the first live one keeps a store O(1) amortized.
        while self._entries:
            oldest_key, (_, expires_at) = next(iter(self._entries.items()))
            if expires_at > now and len(self._entries) <= self._max_entries:
                break
            del self._entries[oldest_key]
