"""The console channel: one structured log line per notice (demos and development)."""

from __future__ import annotations

import logging

from herald.notifier.notice import Notice

log = logging.getLogger("herald.notifier.console")


class ConsoleChannel:
    def __init__(self, channel_id: str) -> None:
        self.channel_id = channel_id

    async def send(self, notice: Notice) -> None:
        log.info(
            notice.text,
            extra={
                "channel": self.channel_id,
                "notice_type": notice.type,
                "event_id": notice.event_id,
                "incident_service": notice.service.id,
                "incident_id": notice.incident.id,
                "incident_status": notice.incident.status.value,
                "status_page_url": notice.status_page_url,
            },
        )
