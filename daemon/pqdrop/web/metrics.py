"""`/metrics`: Prometheus text, by prometheus_client, from the process's tally and a look at now.

A fresh registry per scrape with one collector over what was read: no background thread and no
global registry to keep in step; the counters themselves live in `pqdrop.tally`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import exposition as _exposition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pqdrop.names import shown
from pqdrop.tally import TALLY

if TYPE_CHECKING:
    from pqdrop.web.page import Upload

CONTENT_TYPE = _exposition.CONTENT_TYPE_LATEST
ITEM_STATES = ("waiting", "in_flight", "scheduled", "sent", "failed", "canceled")


class _Now(Collector):
    def __init__(self, items: Mapping[str, int], uploads: Sequence[Upload], problems: Sequence[str]) -> None:
        self._items, self._uploads, self._problems = items, uploads, problems

    def collect(self) -> Iterator[Metric]:
        healthy = GaugeMetricFamily("pqdrop_healthy", "1 while the loop turns and nothing is stuck (as /healthz)")
        healthy.add_metric([], 0.0 if self._problems else 1.0)
        yield healthy
        items = GaugeMetricFamily("pqdrop_items", "Items by state: in the inbox, in flight, or filed", labels=["state"])
        for state in ITEM_STATES:
            if state in self._items:
                items.add_metric([state], float(self._items[state]))
        yield items
        counts = TALLY.snapshot()

        def total(name: str) -> float:
            return sum(value for (counted, _), value in counts.items() if counted == name)

        uploads = CounterMetricFamily("pqdrop_uploads", "Media files uploaded to storage in full")
        uploads.add_metric([], total("uploads"))
        yield uploads
        sent = CounterMetricFamily("pqdrop_upload_bytes", "Bytes of the media uploaded in full")
        sent.add_metric([], total("upload_bytes"))
        yield sent
        requests = CounterMetricFamily("pqdrop_api_requests", "PostQued API requests by rate category and outcome "
                                       "(ok, rate_limited, refused, server_error, unreachable)",
                                       labels=["category", "outcome"])
        limited = CounterMetricFamily("pqdrop_api_rate_limited", "PostQued API replies 429 (too many requests)",
                                      labels=["category"])
        for (name, labels), value in sorted(counts.items()):
            if name == "api_requests":
                label = dict(labels)
                requests.add_metric([label.get("category", ""), label.get("outcome", "")], value)
                if label.get("outcome") == "rate_limited":
                    limited.add_metric([label.get("category", "")], value)
        yield requests
        yield limited
        notified = CounterMetricFamily("pqdrop_notifications", "Notifications by outcome (sent, failed)",
                                       labels=["outcome"])
        for outcome in ("sent", "failed"):
            notified.add_metric([outcome], TALLY.value("notifications", outcome=outcome))
        yield notified
        done = GaugeMetricFamily("pqdrop_upload_sent_bytes", "Bytes sent so far of each upload in flight",
                                 labels=["file"])
        size = GaugeMetricFamily("pqdrop_upload_size_bytes", "Size of each upload in flight", labels=["file"])
        ratio = GaugeMetricFamily("pqdrop_upload_progress_ratio", "Share sent of each upload in flight (0 to 1)",
                                  labels=["file"])
        for upload in self._uploads:
            name = shown(upload.name)
            done.add_metric([name], float(upload.sent))
            size.add_metric([name], float(upload.total))
            ratio.add_metric([name], upload.sent / upload.total if upload.total else 1.0)
        yield from (done, size, ratio)


def exposition(items: Mapping[str, int], uploads: Sequence[Upload], problems: Sequence[str]) -> bytes:
    """The metrics page for a scrape now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Now(items, uploads, problems))
    return generate_latest(registry)
