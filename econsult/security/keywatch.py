"""Noticing a key rotation done by `econsult keys rotate` while the server runs.

The key file is replaced atomically, so a changed modification time means a new file;
the server then reloads it in place. With ECONSULT_MASTER_KEY the keys come from the
environment, which a running process cannot see change: restart after rotating.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from econsult.security.keyring import Keyring, KeyringError, load_key_file

logger = logging.getLogger(__name__)


class KeyFileWatcher:
    def __init__(self, keyring: Keyring, path: Path, *, interval: float = 5.0) -> None:
        self.keyring = keyring
        self.path = path
        self.interval = interval
        self._mtime = self._stat()

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime_ns / 1e9
        except FileNotFoundError:
            return None

    def check(self) -> bool:
        """Reload if the file changed; True when the keyring was replaced."""
        mtime = self._stat()
        if mtime is None or mtime == self._mtime:
            return False
        try:
            fresh = load_key_file(self.path)
        except KeyringError:
            logger.exception("key file %s changed but cannot be read; keeping the old keys",
                             self.path)
            return False
        self._mtime = mtime
        self.keyring.replace_with(fresh)
        logger.info("key file reloaded; active KEK is %s", fresh.active_id)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.to_thread(self.check)
