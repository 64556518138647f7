"""JSON responses rendered with orjson.

A queue listing is hundreds of small objects; orjson encodes them an order of
magnitude faster than the standard library (bench/listing.py: ~95 us -> ~7 us for
50 consults), with the same output for what the API sends (UTF-8, ISO 8601 times).
One difference: NaN and infinities become null instead of raising.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSONResponse


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
