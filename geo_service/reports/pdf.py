"""HTML to PDF with WeasyPrint (Debian's pango shapes Thai correctly with the TLWG fonts)."""

from __future__ import annotations


def html_to_pdf(html: str) -> bytes:
    """An HTML page as PDF bytes."""
    from PIL import ImageFile
    from weasyprint import HTML

    # WeasyPrint switches Pillow to accept truncated images, process-wide, when imported; photo checks
    # (incidents/photos.py) rely on truncated files being refused, so the default is restored.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return HTML(string=html).write_pdf()
