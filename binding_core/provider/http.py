"""What every provider client shares: one aiohttp session, made lazily inside the running loop, with timeouts."""

from __future__ import annotations

import aiohttp


class SessionHolder:
    """Connect and total timeouts apply to every call; the session is opened on first use and closed with the client."""

    def __init__(self, *, timeout: float, connect_timeout: float) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=min(connect_timeout, timeout))
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
