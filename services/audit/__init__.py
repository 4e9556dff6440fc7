"""Access records (접속기록) in two keyed chains: one module per role.

`chain` holds each chain's MAC'd head, its keyed genesis and the lock that serializes linkers;
`append` adds a sealed record without waiting for anyone; `link` links sealed records into
their chain in batches (the `audit_link` job); `verify` walks a chain and names the first bad
link; `checkpoints` signs heads for a store outside the database and compares them, `sinks` are
those stores; `marks` verifies each chain a slice at a time ahead of retention; `retention`
prunes what the law no longer requires; `query` and `review` serve
supervisors.
docs/security-model.md explains what the chains prove and what they do not.
"""

from services.audit.append import record_access, record_right_change
from services.audit.chain import (
    CHAIN_LOCK_KEYS,
    CHAIN_MODELS,
    AuditChainBroken,
    ChainHead,
    ChainProblem,
    read_head,
    start_chains,
)
from services.audit.checkpoints import (
    Checkpoint,
    CheckpointRefused,
    CheckpointSink,
    CheckpointSinkError,
    SinkReading,
    session_sink,
    ship_checkpoints,
    take_checkpoint,
)
from services.audit.link import Pending, link_chains, link_pending, pending
from services.audit.query import MAX_PAGE_SIZE, mentions_any_resident, query_events
from services.audit.retention import prune_chain
from services.audit.verify import Progress, VerifyResult, verify_chain

__all__ = [
    "CHAIN_LOCK_KEYS",
    "CHAIN_MODELS",
    "MAX_PAGE_SIZE",
    "AuditChainBroken",
    "ChainHead",
    "ChainProblem",
    "Checkpoint",
    "CheckpointRefused",
    "CheckpointSink",
    "CheckpointSinkError",
    "Pending",
    "Progress",
    "SinkReading",
    "VerifyResult",
    "link_chains",
    "link_pending",
    "mentions_any_resident",
    "pending",
    "prune_chain",
    "query_events",
    "read_head",
    "record_access",
    "record_right_change",
    "session_sink",
    "ship_checkpoints",
    "start_chains",
    "take_checkpoint",
    "verify_chain",
]
