"""The status feed without Qt: a burst of marks is one status, an unchanged one is not sent,
and it refreshes only while a window shows it."""

from __future__ import annotations

import asyncio

from studio_monitor.link.status import LinkStatus
from studio_monitor.link.status_feed import StatusFeed
from tests.support.wait import until


class Link:
    """What the feed computes from: a status that changes when the test says."""

    def __init__(self) -> None:
        self.computed = 0
        self.status = LinkStatus(state="connecting", transport=None, hub_url="http://h:1")

    def compute(self) -> LinkStatus:
        self.computed += 1
        return self.status


def test_a_burst_of_marks_is_one_status_and_an_unchanged_one_is_not_sent() -> None:
    async def scenario() -> None:
        link, sent = Link(), list[LinkStatus]()
        feed = StatusFeed(link.compute, sent.append, coalesce_s=0.05, refresh_s=60)
        feed.start(asyncio.get_running_loop())
        for _ in range(100):
            feed.mark()
        assert feed.pending
        await until(lambda: not feed.pending, what="the coalesced status")
        assert (link.computed, sent) == (1, [link.status])
        feed.mark()
        await until(lambda: not feed.pending)
        assert (link.computed, len(sent)) == (2, 1)  # the same status: not sent again
        link.status = LinkStatus(state="live", transport="websocket", hub_url="http://h:1")
        feed.mark()
        await until(lambda: len(sent) == 2)
        feed.stop()
        feed.mark()
        assert not feed.pending  # stopped: nothing more

    asyncio.run(scenario())


def test_it_refreshes_only_while_the_status_is_seen() -> None:
    async def scenario() -> None:
        link, sent = Link(), list[LinkStatus]()
        feed = StatusFeed(link.compute, sent.append, coalesce_s=0.01, refresh_s=0.02)
        feed.refresh_while(True)
        feed.start(asyncio.get_running_loop())
        await until(lambda: link.computed >= 3, what="refreshes while seen")
        feed.refresh_while(False)
        await until(lambda: not feed.pending)
        computed = link.computed
        feed.refresh_while(True)  # seen again: refreshing again
        await until(lambda: link.computed > computed, what="refreshing again")
        feed.stop()

    asyncio.run(scenario())
