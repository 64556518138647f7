"""An iPhone photo (HEIC, Display P3, EXIF with GPS) through the API: what is served
keeps the Display P3 profile and carries no EXIF, XMP or GPS, original and thumbnail."""

from __future__ import annotations

import io
from typing import Any

import pillow_heif
from PIL import Image

from econsult.images.icc import profile_description
from tests.conftest import ClientFor
from tests.factories import FORM, Personas, ok
from tests.images.image_factories import TESTDATA, assert_no_metadata


async def test_served_iphone_photo_keeps_display_p3_and_loses_exif_xmp_gps(
    rota: None, personas: Personas, client_for: ClientFor,
) -> None:
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    data = (TESTDATA / "phones" / "pug.heic").read_bytes()
    with Image.open(io.BytesIO(data)) as source:
        assert profile_description(source.info["icc_profile"]) == "Display P3"
        exif = source.getexif()
        assert exif.get_ifd(0x8825)  # the upload carries a GPS position
        make = str(exif.get(0x010F)).strip("\x00 ").encode()
    gp = await client_for(personas.gp)
    created: dict[str, Any] = ok(await gp.post(
        "/api/v1/consults", data={**FORM, "image_labels": "overview"},
        files=[("images", ("IMG_0042.HEIC", data, "image/heic"))]), 201)
    image_id = created["images"][0]["id"]
    derm = await client_for(personas.derm)
    for path in (f"/api/v1/images/{image_id}", f"/api/v1/images/{image_id}/thumbnail"):
        r = await derm.get(path)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert_no_metadata(r.content, "image/jpeg")
        assert b"Exif" not in r.content and b"GPS" not in r.content
        assert b"http://ns.adobe.com/xap" not in r.content and make not in r.content
        with Image.open(io.BytesIO(r.content)) as served:
            assert profile_description(served.info["icc_profile"]) == "Display P3"
            assert not served.getexif() and "xmp" not in served.info
