"""When a gateway counts as silent: `config/gateway_silence.json`, validated at load."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

from config.jsonfiles import expect_fields, expect_positive, fail, read_object
from config.reference import REFERENCE_DIR

GATEWAY_SILENCE_FILE: Final = REFERENCE_DIR / "gateway_silence.json"


@dataclass(frozen=True, slots=True)
class SilencePolicy:
    """How long a gateway may stay quiet, from its expected gap between signal batches."""

    default_expected: timedelta
    silence_factor: float
    min_silence: timedelta
    learn_after_batches: int
    learn_weight: float

    def expected(
        self, *, configured: timedelta | None, learned: timedelta | None, batches: int
    ) -> timedelta:
        """The gap to expect: configured, else learned from enough batches, else the default."""
        if configured is not None:
            return configured
        if learned is not None and batches >= self.learn_after_batches:
            return learned
        return self.default_expected

    def threshold(self, expected: timedelta) -> timedelta:
        """Silence longer than this is an incident."""
        return max(self.min_silence, expected * self.silence_factor)

    def learn(self, learned: timedelta | None, gap: timedelta) -> timedelta:
        """The learned gap after one more observed gap (an exponentially weighted mean)."""
        if learned is None:
            return gap
        return learned * (1 - self.learn_weight) + gap * self.learn_weight


def load_silence_policy(path: Path | None = None) -> SilencePolicy:
    path = path or GATEWAY_SILENCE_FILE
    where = "top level"
    entry = expect_fields(
        path,
        where,
        read_object(path),
        {
            "default_expected_minutes",
            "silence_factor",
            "min_silence_minutes",
            "learn_after_batches",
            "learn_weight",
        },
    )
    batches = entry["learn_after_batches"]
    if not isinstance(batches, int) or isinstance(batches, bool) or batches < 1:
        fail(path, where, f"learn_after_batches must be a whole number >= 1, not {batches!r}")
    weight = expect_positive(path, where, "learn_weight", entry)
    if weight > 1:
        fail(path, where, f"learn_weight must be at most 1, not {weight!r}")
    factor = expect_positive(path, where, "silence_factor", entry)
    if factor < 1:
        fail(path, where, f"silence_factor must be at least 1, not {factor!r}")
    return SilencePolicy(
        default_expected=timedelta(
            minutes=expect_positive(path, where, "default_expected_minutes", entry)
        ),
        silence_factor=factor,
        min_silence=timedelta(minutes=expect_positive(path, where, "min_silence_minutes", entry)),
        learn_after_batches=batches,
        learn_weight=weight,
    )
