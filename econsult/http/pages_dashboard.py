"""Routes of this area are being written; until then it contributes none."""

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
