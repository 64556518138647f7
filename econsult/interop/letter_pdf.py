"""HTML to PDF with WeasyPrint, for the consult letter; run in the worker pool.

WeasyPrint because the letter is a document, not a form: paged CSS gives the running
footer and "page N of M" (`counter(pages)`), and the template stays plain HTML that a
person can read and edit. It is a well-kept library (Kozea, BSD) with no browser to run.

The HTML holds decrypted clinical content inside our own template's markup; it is still
rendered with a fetcher that allows only inline `data:` URLs: no file, no network, so
nothing a GP typed can make the server read or fetch anything.
"""

from __future__ import annotations

import logging
from typing import Any


def _weasyprint() -> tuple[Any, Any]:
    # Importing WeasyPrint sets Pillow's ImageFile.LOAD_TRUNCATED_IMAGES = True for the
    # whole process: the photo pipeline, in the same worker pool, would then accept
    # truncated uploads. Put the flag back as it was (the import runs its module once).
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return HTML, URLFetcher


def render_pdf(html: str) -> bytes:
    """The PDF of `html` (A4, styles inline). Module-level so a process pool can run it."""
    HTML, URLFetcher = _weasyprint()  # noqa: N806 - the library's class names

    # A refused fetch would be logged as an error with the element left out: that is
    # the intended outcome, not a fault worth an error line.
    logging.getLogger("weasyprint").setLevel(logging.CRITICAL)
    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)
    pdf: bytes = HTML(string=html, url_fetcher=fetcher, base_url="about:blank").write_pdf()
    return pdf
