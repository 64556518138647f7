"""The database: engines and sessions (built in the app's lifespan), SQLite pragmas,
and the check that the schema is at the head migration."""

from econsult.db.engines import Database
from econsult.db.sqlite import BUSY_TIMEOUT_MS

__all__ = ["BUSY_TIMEOUT_MS", "Database"]
