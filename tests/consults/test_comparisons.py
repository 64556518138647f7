"""Earlier photos for the viewer's side-by-side: the same patient (health number, however
it was typed) and the same body site, only among consults the viewer may see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from econsult.clock import ManualClock
from econsult.consults import comparisons
from tests.conftest import ClientFor
from tests.factories import Personas, ok, submit
from tests.images.image_factories import encode, skin_texture

PHOTO = ("photo.jpg", encode(skin_texture(320, 240), "JPEG", quality=90), "image/jpeg")


async def send(client: httpx.AsyncClient, clock: ManualClock, *, site: str, number: str,
               label: str = "close_up") -> dict[str, Any]:
    clock.advance(timedelta(minutes=2))
    created: dict[str, Any] = ok(await submit(
        client, files=[("images", PHOTO)], body_site=site, patient_health_number=number,
        image_labels=label), 201)
    return created


async def test_earlier_photos_of_the_same_site_of_the_same_patient(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock,
) -> None:
    gp, other_gp = await client_for(personas.gp), await client_for(personas.other_gp)
    first = await send(gp, clock, site="left shoulder", number="9876 543 210")
    other_site = await send(gp, clock, site="right shin", number="9876 543 210")
    other_patient = await send(gp, clock, site="left shoulder", number="1111 222 333")
    foreign = await send(other_gp, clock, site="left shoulder", number="9876 543 210")
    later = await send(gp, clock, site="Left  Shoulder", number="9876-543-210",
                       label="overview")
    photo = later["images"][0]["id"]

    r = await gp.get(f"/api/v1/images/{photo}/earlier")
    found = ok(r)["photos"]
    assert [p["id"] for p in found] == [first["images"][0]["id"]]
    assert found[0]["consult_id"] == first["id"] and found[0]["same_consult"] is False
    assert found[0]["label"] == "close_up" and found[0]["body_site"] == "left shoulder"
    # The earliest photo has nothing before it; unrelated consults never appear.
    assert ok(await gp.get(f"/api/v1/images/{first['images'][0]['id']}/earlier")) == {
        "photos": []}
    seen = {p["consult_id"] for p in found}
    assert not seen & {other_site["id"], other_patient["id"], foreign["id"]}

    # The other GP's consult of the same patient and site is theirs alone: from their
    # photo, ours are not listed.
    theirs = ok(await other_gp.get(f"/api/v1/images/{foreign['images'][0]['id']}/earlier"))
    assert theirs == {"photos": []}


async def test_a_follow_up_photo_in_a_reply_compares_with_the_first(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock,
) -> None:
    gp = await client_for(personas.gp)
    consult = await send(gp, clock, site="left shoulder", number="9876 543 210")
    clock.advance(timedelta(minutes=3))
    reply = ok(await gp.post(f"/api/v1/consults/{consult['id']}/messages",
                             data={"body": "Two weeks later.", "kind": "message",
                                   "image_labels": "close_up"},
                             files=[("images", PHOTO)]), 201)
    found = ok(await gp.get(f"/api/v1/images/{reply['images'][0]['id']}/earlier"))["photos"]
    assert [(p["id"], p["same_consult"]) for p in found] == [
        (consult["images"][0]["id"], True)]


async def test_nobody_else_can_ask(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock,
    anon: httpx.AsyncClient,
) -> None:
    gp = await client_for(personas.gp)
    consult = await send(gp, clock, site="left shoulder", number="9876 543 210")
    photo = consult["images"][0]["id"]
    for who in ("other_gp", "cardio", "staff", "admin"):
        client = await client_for(getattr(personas, who))
        assert (await client.get(f"/api/v1/images/{photo}/earlier")).status_code == 404, who
    for bad in ("not-a-uuid", consult["id"]):
        assert (await gp.get(f"/api/v1/images/{bad}/earlier")).status_code == 404
    assert (await anon.get(f"/api/v1/images/{photo}/earlier")).status_code == 401


def test_fold_ignores_case_spaces_and_hyphens() -> None:
    assert comparisons.fold("9876-543 210") == comparisons.fold("9876543210")
    assert comparisons.fold("Left  Shoulder") == comparisons.fold("left shoulder")
    assert comparisons.fold("left shin") != comparisons.fold("left shoulder")


async def test_reply_photos_take_the_same_labels_and_checks_as_at_submit(
    rota: None, personas: Personas, client_for: ClientFor, clock: ManualClock,
) -> None:
    gp = await client_for(personas.gp)
    consult = await send(gp, clock, site="left shoulder", number="9876 543 210")
    tiny = ("tiny.jpg", encode(skin_texture(200, 150), "JPEG", quality=90), "image/jpeg")
    r = await gp.post(f"/api/v1/consults/{consult['id']}/messages",
                      data={"body": "Another.", "kind": "message", "image_labels": "selfie"},
                      files=[("images", tiny)])
    assert r.status_code == 400 and r.json()["error"]["field"] == "image_labels"
    sent = ok(await gp.post(f"/api/v1/consults/{consult['id']}/messages",
                            data={"body": "Dermoscopy.", "kind": "message",
                                  "image_labels": "dermoscopy"},
                            files=[("images", tiny)]), 201)
    (photo,) = sent["images"]
    assert photo["label"] == "dermoscopy" and "low_resolution" in {w["code"] for w in
                                                             photo["warnings"]}
    derm = await client_for(personas.derm)
    detail = ok(await derm.get(f"/api/v1/consults/{consult['id']}"))
    assert detail["messages"][-1]["images"][0]["warnings"] == photo["warnings"]
    page = await derm.get(f"/consults/{consult['id']}")
    assert photo["warnings"][0]["message"] in page.text.replace("&#39;", "'")
