"""In a real browser: a GP attaches a PDF (with JavaScript in it) at submit, the
specialist downloads the stored copy (without it), and works the photos in the viewer:
zoom at the cursor, next/previous, side-by-side with the earlier consult's photo."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, jpeg
from tests.e2e.test_consult_flow import login
from tests.images.pdf_factories import benign, hostile, saved, script

pytestmark = pytest.mark.e2e


def lab_report_with_script(path: Path) -> None:
    def change(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = script(pdf)

    data = hostile(change)
    assert b"MARK-SCRIPT" in data
    path.write_bytes(data)


def fill_consult(gp: Page, site: Site, tmp_path: Path, *, photos: int, pdf: Path | None,
                 tag: str) -> None:
    gp.goto(f"{site.server.url}/consults/new")
    gp.select_option("#specialty", "dermatology")
    gp.select_option("#urgency", "routine")
    gp.fill("#patient_name", "Pat Viewer")
    gp.fill("#patient_dob", "1958-03-02")
    gp.fill("#patient_health_number", "9123 456 789")
    gp.fill("#question", f"Follow-up of a pigmented lesion ({tag}); has it changed?")
    gp.fill("#body_site", "left forearm")
    for slot, seed in (("overview", 1), ("close_up", 2))[:photos]:
        path = tmp_path / f"{tag}-{slot}.jpg"
        path.write_bytes(jpeg(seed + len(tag)))
        gp.set_input_files(f"#photo-{slot}-file", str(path))
        expect(gp.locator(f'.photo-slot[data-slot="{slot}"] .preview')).to_be_visible()
    if pdf is not None:
        gp.set_input_files("#attachments", str(pdf))


def send_consult(gp: Page, site: Site, tmp_path: Path, *, photos: int, pdf: Path | None,
                 tag: str) -> str:
    fill_consult(gp, site, tmp_path, photos=photos, pdf=pdf, tag=tag)
    gp.click("#submit-consult")
    expect(gp.locator("#consult-sent")).to_be_visible(timeout=15_000)
    link = gp.locator("#sent-link").get_attribute("href")
    assert link is not None
    return link.rsplit("/", 1)[1]


def scale(page: Page) -> float:
    return float(page.locator("#photo-viewer").get_attribute("data-scale") or "0")


def test_pdf_download_and_the_photo_viewer(
    browser: Any, site: Site, artifacts: Path, tmp_path: Path
) -> None:
    p = site.personas
    gp = login(browser, site, p.gp.email)
    # A password-protected PDF is refused with a message at the attachments field.
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(saved(pikepdf.open(io.BytesIO(benign())),
                             encryption=pikepdf.Encryption(user="pw", owner="pw", R=6)))
    fill_consult(gp, site, tmp_path, photos=1, pdf=locked, tag="locked")
    gp.click("#submit-consult")
    expect(gp.locator("#err-attachments")).to_contain_text("protected with a password")
    expect(gp.locator("#consult-sent")).to_be_hidden()
    gp.screenshot(path=str(artifacts / "attachment-refused.png"), full_page=True)
    send_consult(gp, site, tmp_path, photos=1, pdf=None, tag="march")
    report = tmp_path / "potassium results.pdf"
    lab_report_with_script(report)
    cid = send_consult(gp, site, tmp_path, photos=2, pdf=report, tag="june")

    derm = login(browser, site, p.derm.email)
    derm.goto(f"{site.server.url}/consults/{cid}")
    link = derm.locator("a.attachment")
    expect(link).to_have_text("potassium results.pdf")
    expect(derm.locator(".attachments")).to_contain_text("3 pages")
    with derm.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "potassium results.pdf"
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF") and b"MARK-SCRIPT" not in data
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 3 and "/OpenAction" not in pdf.Root

    # The viewer: zoom with the buttons and with the wheel at the cursor.
    derm.locator("button.thumb").first.click()
    viewer = derm.locator("#photo-viewer")
    expect(viewer).to_be_visible()
    first = viewer.get_attribute("data-image")
    expect(viewer.locator("[data-position]")).to_have_text("1 / 2")
    derm.click("#photo-viewer [data-zoom=in]")
    assert scale(derm) == pytest.approx(1.5)
    pane = viewer.locator(".viewer-main-pane")
    box = pane.bounding_box()
    assert box is not None
    point = (box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25)
    img = pane.locator("img")
    before = img.evaluate("n => n.getBoundingClientRect().toJSON()")
    derm.mouse.move(*point)
    derm.mouse.wheel(0, -200)
    expect(viewer).not_to_have_attribute("data-scale", "1.50")
    assert scale(derm) > 1.5
    after = img.evaluate("n => n.getBoundingClientRect().toJSON()")
    # Zoom at the cursor: the image point under the pointer stays under it.
    for axis, size, at in (("x", "width", point[0]), ("y", "height", point[1])):
        fraction_before = (at - before[axis]) / before[size]
        fraction_after = (at - after[axis]) / after[size]
        assert fraction_after == pytest.approx(fraction_before, abs=0.01)
    derm.screenshot(path=str(artifacts / "viewer-zoomed.png"))

    # Next / previous (buttons and keys) step through the thread's photos.
    derm.click("#photo-viewer [data-step=next]")
    expect(viewer.locator("[data-position]")).to_have_text("2 / 2")
    second = viewer.get_attribute("data-image")
    assert second and second != first and scale(derm) == 1
    derm.keyboard.press("ArrowLeft")
    expect(viewer.locator("[data-position]")).to_have_text("1 / 2")
    assert viewer.get_attribute("data-image") == first

    # Side by side with the earlier consult's photo of the same site.
    derm.click("#photo-viewer [data-compare]")
    earlier = viewer.locator(".viewer-earlier-pane")
    expect(earlier).to_be_visible()
    expect(earlier.locator("[data-earlier-caption]")).to_contain_text("an earlier consult")
    expect(earlier.locator("img")).to_have_attribute("src", re.compile(r"^/api/v1/images/"))
    derm.click("#photo-viewer [data-zoom=in]")
    transforms = viewer.locator(".viewer-pane img").evaluate_all(
        "nodes => nodes.map(n => n.style.transform)")
    assert len(set(transforms)) == 1 and "scale(1.5)" in transforms[0]
    derm.screenshot(path=str(artifacts / "viewer-side-by-side.png"))
