"""How uvicorn serves the gateway: one configuration for every launcher (the CLI, the demo,
`edgeline dev`, the tests).

uvicorn closes idle keep-alive connections, but gives a request's head all the time in the
world: 200 slowloris connections, each sending a header line now and then, stayed open for
good. Here a connection must deliver each request's line and headers within
``header_timeout_s`` of opening (or of the previous response), else it is closed. Bodies have
their own deadline in the app (``bodies.py``).
"""

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from clients.gateway.settings import GatewaySettings


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's head."""

    header_timeout_s = 10.0
    _head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_too_slow)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:  # the next head starts now
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)


def server_config(
    app: Any, settings: GatewaySettings, host: str, port: int, log_level: str = "warning"
) -> uvicorn.Config:
    """The gateway's uvicorn configuration: heads within ``settings.header_timeout_s``, idle
    connections closed after 5 s, and X-Forwarded-For believed only from
    ``settings.trusted_proxies`` (uvicorn believes it from 127.0.0.1 by default, so any local
    caller could pose as many clients)."""
    protocol = type(
        "GatewayProtocol", (HeadTimeoutProtocol,), {"header_timeout_s": settings.header_timeout_s}
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=protocol,
        timeout_keep_alive=5,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
    )
