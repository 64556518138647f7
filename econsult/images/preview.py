"""A JPEG any browser shows, made from a stored thumbnail: the preview a GP sees of a
photo in a draft (an iPhone's HEIC included, which Chromium cannot show itself).

The thumbnail was already re-encoded from pixels by the pipeline (no metadata of the
upload survives); a PNG thumbnail (from a PNG upload) is flattened onto white and
re-encoded as JPEG here, again from pixels only.
"""

from __future__ import annotations

import io

from PIL import Image

PREVIEW_QUALITY = 85


def preview_jpeg(thumbnail: bytes, content_type: str) -> bytes:
    if content_type == "image/jpeg":
        return thumbnail
    with Image.open(io.BytesIO(thumbnail)) as im:
        im.load()
        rgba = im.convert("RGBA")
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, "JPEG", quality=PREVIEW_QUALITY)
    return out.getvalue()
