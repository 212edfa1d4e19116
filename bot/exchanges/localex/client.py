"""The bot's side of a local exchange in another process: each tick advances its market."""

from __future__ import annotations

import aiohttp

from bot.marketdata.layout import Event


class RemoteSimSink:
    """Advances a local exchange's market to each tick's time (POST /sim/advance)."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/sim/advance"
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, batch: list[Event]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(self.url, json={"until": batch[-1].seen}) as resp:
            resp.raise_for_status()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
