"""The broker topology, declared in one place.

- ``<p>.in``: the inbound exchange vendors publish to. On RabbitMQ it is a
  consistent-hash exchange over the routing key, which vendors set to an
  opaque, stable per-client key; each hash bucket is a shard queue
  ``<p>.work.<n>`` with a single active consumer, so one client's messages are
  processed in send order even with several workers.
- ``<p>.out``: direct exchange to the per-party quorum inboxes ``<p>.inbox.<party>``.
- ``<p>.retry``: headers exchange to TTL queues ``<p>.retry.<ms>`` that
  dead-letter back into ``<p>.in`` (the retry/delay path).
- ``<p>.dlx`` / ``<p>.dlq``: the dead letter channel.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topology:
    prefix: str = "zorghub"
    shards: int = 8
    retry_delays_ms: tuple[int, ...] = (1000, 10000, 60000)

    @property
    def inbound(self) -> str:
        return f"{self.prefix}.in"

    @property
    def outbound(self) -> str:
        return f"{self.prefix}.out"

    @property
    def retry(self) -> str:
        return f"{self.prefix}.retry"

    @property
    def dlx(self) -> str:
        return f"{self.prefix}.dlx"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    def inbox(self, party: str) -> str:
        return f"{self.prefix}.inbox.{party}"

    def stream_inbox(self, party: str) -> str:
        """The RabbitMQ stream of a party configured with ``stream_inbox``."""
        return f"{self.prefix}.stream.{party}"

    def shard(self, n: int) -> str:
        return f"{self.prefix}.work.{n}"

    def shard_queues(self) -> list[str]:
        return [self.shard(n) for n in range(self.shards)]

    def worker_shards(self, index: int, count: int) -> list[str]:
        """The shards worker ``index`` of ``count`` consumes: a fixed, disjoint split."""
        return [self.shard(n) for n in range(self.shards) if n % count == index]

    def retry_queue(self, delay_ms: int) -> str:
        return f"{self.prefix}.retry.{delay_ms}"

    def retry_delay(self, attempt: int) -> int | None:
        """Backoff for the given attempt (1-based), or None when retries are spent."""
        if attempt > len(self.retry_delays_ms):
            return None
        return self.retry_delays_ms[attempt - 1]
