"""What a :class:`~gallery_analytics.db.database.Database` knows about its streaming
replica: whether reads may go there now, and what it has replayed.

PostgreSQL's streaming replicas are the workbench's way past one server: reads (panels,
lists, extracts) go to the replica while it is healthy, writes to the primary. Three
promises rest on this state, and each is kept by asking the replica itself (no timing
guesses):

- **Read-your-writes.** After a write through a Database, that Database notes the
  primary's WAL position once the write committed (:meth:`ReplicaHealth.note_write`).
  Its next read on the replica first waits, bounded by
  ``GALLERY_READ_YOUR_WRITES_WAIT_SECONDS``, until ``pg_last_wal_replay_lsn()`` has
  passed it, else that read goes to the primary: an analyst never sees a dashboard
  without the rows they just imported.
- **Fallback.** A replica that cannot be reached, or whose replay is further behind than
  ``GALLERY_REPLICA_MAX_LAG_SECONDS``, is *down*: reads go to the primary (one warning
  when it goes down, one line when it is back). One read at a time tries it again after
  :data:`RETRY_SECONDS`.
- **Visible.** :meth:`ReplicaHealth.status` (``Database.replica_status()``, the API's
  ``/health/ready``, ``gallery-analytics db status``) says where reads go, the lag last
  measured, and how many reads fell back or waited.

This module holds state and decisions only; the Database does the I/O.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger(__name__)

# How often a healthy replica's lag is measured (one extra round trip per interval).
PROBE_INTERVAL_SECONDS = 1.0
# How long a replica that failed is left alone before one read tries it again.
RETRY_SECONDS = 2.0
# Polling the replay position while a read waits for its own write: short first (a
# replica usually replays within milliseconds), never longer than this.
MAX_POLL_SECONDS = 0.02

# Asked on the replica, outside any transaction. The lag is 0 when the replica has
# replayed everything it received (an idle primary writes nothing: the age of the last
# replayed transaction would grow without the replica being behind). A server that is
# not in recovery (a promoted replica, or a URL that points at a primary) has replayed
# everything by definition: NULL replay position.
PROBE_SQL = (
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), "
    "CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() "
    "THEN 0.0 ELSE COALESCE(extract(epoch FROM clock_timestamp() - "
    "pg_last_xact_replay_timestamp()), 0.0)::float8 END"
)
# Asked on the primary after a write committed: where its WAL has been written up to,
# which is past that commit's record.
WRITTEN_LSN_SQL = "SELECT pg_current_wal_lsn()"

State = Literal["up", "down", "unknown"]


@dataclass(frozen=True, slots=True)
class Probe:
    """One answer of :data:`PROBE_SQL`."""

    replayed_lsn: int | None  # None: not in recovery, everything is "replayed"
    lag_seconds: float

    @classmethod
    def from_row(cls, row: Any) -> Probe:
        in_recovery, replayed, lag = row[0], row[1], row[2]
        if not in_recovery:
            return cls(None, 0.0)
        return cls(lsn_of(replayed), float(lag))

    def has_replayed(self, lsn: int) -> bool:
        return self.replayed_lsn is None or self.replayed_lsn >= lsn


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    """Where reads go, for health checks and ``db status``."""

    state: State
    reads_go_to: Literal["replica", "primary"]
    lag_seconds: float | None
    max_lag_seconds: float
    last_problem: str | None
    fallback_reads: int
    read_your_writes_waits: int
    read_your_writes_fallbacks: int


class ReplicaHealth:
    """The replica's state as one Database last saw it (shared by all its event loops)."""

    def __init__(self, *, where: str, max_lag_seconds: float, wait_seconds: float) -> None:
        self.where = where  # the masked replica URL, for log lines
        self.max_lag_seconds = max_lag_seconds
        self.wait_seconds = wait_seconds
        self._state: State = "unknown"
        self._down_until = 0.0
        self._trying = False  # one read tries a down replica again, the others do not wait
        self._next_probe = 0.0
        self._caught_up_at: float | None = None  # when a probe last found nothing unreplayed
        self._lag: float | None = None
        self._problem: str | None = None
        self._written_lsn = 0  # the newest commit this Database made on the primary
        self._primary_until = 0.0  # a write whose position is unknown: primary until then
        self._replayed_lsn = 0  # the newest position the replica was seen to have replayed
        self._fallback_reads = 0
        self._waits = 0
        self._wait_fallbacks = 0

    # -- decisions ----------------------------------------------------------------------

    def may_try(self) -> bool:
        """Whether this read should go to the replica at all (claims the retry when the
        replica is down and its pause is over: release with note_up / note_down)."""
        if time.monotonic() < self._primary_until:
            self._fallback_reads += 1
            return False
        if self._state != "down":
            return True
        if self._trying or time.monotonic() < self._down_until:
            self._fallback_reads += 1
            return False
        self._trying = True
        return True

    def needs_probe(self) -> bool:
        """Whether this read must ask the replica first: it has a write of this Database
        to wait for, its lag is due for measuring, or it is being tried again."""
        return (
            self._written_lsn > self._replayed_lsn
            or self._state != "up"
            or time.monotonic() >= self._next_probe
        )

    def pending_lsn(self) -> int:
        """The write a read must wait for (0: none)."""
        return self._written_lsn if self._written_lsn > self._replayed_lsn else 0

    # -- what was seen ------------------------------------------------------------------

    def note_write(self, lsn: int) -> None:
        self._written_lsn = max(self._written_lsn, lsn)

    def note_probe(self, probe: Probe) -> bool:
        """Record a probe; False when the replica is too far behind (then it is down)."""
        now = time.monotonic()
        self._next_probe = now + PROBE_INTERVAL_SECONDS
        lag = probe.lag_seconds
        if lag == 0.0:
            self._caught_up_at = now
        elif self._caught_up_at is not None:
            # The age of the last replayed commit overstates the lag after an idle spell
            # (an hour-old commit, then one new write): it was not behind before we last
            # saw it caught up.
            lag = min(lag, now - self._caught_up_at)
        self._lag = lag
        if lag > self.max_lag_seconds:
            self.note_down(
                f"is {lag:.1f} s behind in replay, more than the "
                f"{self.max_lag_seconds:g} s allowed (GALLERY_REPLICA_MAX_LAG_SECONDS)"
            )
            return False
        if probe.replayed_lsn is None:
            self._replayed_lsn = self._written_lsn
        else:
            self._replayed_lsn = max(self._replayed_lsn, probe.replayed_lsn)
        self._note_up()
        return True

    def note_down(self, problem: str, *, detail: str | None = None) -> None:
        """The replica may not serve reads for now. ``problem`` is what status() shows
        (a category, never an address: /health/ready needs no token); ``detail`` (which
        may name the server) goes to the log only."""
        self._trying = False
        self._down_until = time.monotonic() + RETRY_SECONDS
        self._problem = problem
        self._fallback_reads += 1
        if self._state != "down":
            logger.warning(
                "reads fall back to the primary: the replica %s %s%s; trying it again every %g s",
                self.where,
                problem,
                f" ({detail})" if detail else "",
                RETRY_SECONDS,
            )
        self._state = "down"

    def note_write_unknown(self) -> None:
        """A write committed but its WAL position could not be read: reads go to the
        primary for as long as one would have waited for the replica to replay it."""
        self._primary_until = time.monotonic() + self.wait_seconds

    def note_waited(self, *, fell_back: bool) -> None:
        self._waits += 1
        if fell_back:
            self._wait_fallbacks += 1
            self._fallback_reads += 1

    def release_try(self) -> None:
        """A read that claimed the retry ended without an answer (cancelled)."""
        self._trying = False

    def _note_up(self) -> None:
        self._trying = False
        if self._state == "down":
            logger.warning("reads go to the replica %s again", self.where)
        self._state = "up"
        self._problem = None

    def status(self) -> ReplicaStatus:
        reads_go_to: Literal["replica", "primary"] = (
            "primary" if self._state == "down" else "replica"
        )
        return ReplicaStatus(
            state=self._state,
            reads_go_to=reads_go_to,
            lag_seconds=self._lag,
            max_lag_seconds=self.max_lag_seconds,
            last_problem=self._problem,
            fallback_reads=self._fallback_reads,
            read_your_writes_waits=self._waits,
            read_your_writes_fallbacks=self._wait_fallbacks,
        )


def lsn_of(value: Any) -> int:
    """A pg_lsn value as an int: asyncpg decodes it as one; text (``16/B374D848``) is
    parsed the same way."""
    if isinstance(value, int):
        return value
    high, _, low = str(value).partition("/")
    return (int(high, 16) << 32) | int(low, 16)
