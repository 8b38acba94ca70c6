"""Photo rules (DESIGN §7, issue 3): what is uploaded to the CRM, and cropped how.

Pipedrive takes GIF, JPEG or PNG pictures, square and at least 128 px; a
non-square image is cropped to its centred square through the upload's crop
parameters, and an image smaller than that is skipped with the reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from contactsync.crm.base import Crop

MIN_SIZE = 128
FORMATS = {"GIF": "image/gif", "JPEG": "image/jpeg", "PNG": "image/png"}


@dataclass(frozen=True)
class PhotoPlan:
    """Either an upload (mime type and crop) or the reason it is skipped."""

    mime: str | None = None
    crop: Crop | None = None
    skip: str | None = None


def plan_photo(image: bytes) -> PhotoPlan:
    """Never raises: whatever the bytes are, the answer is an upload or a skip with its reason."""
    if not isinstance(image, bytes | bytearray) or not image:
        return PhotoPlan(skip="the photo is empty")
    try:
        with Image.open(io.BytesIO(image)) as img:
            kind, (width, height) = img.format, img.size
            img.verify()  # reads the whole file: a truncated or corrupt image is caught here, not at upload
    except Image.DecompressionBombError:
        return PhotoPlan(skip="the photo is too large to be a contact picture (over Pillow's pixel limit)")
    except (UnidentifiedImageError, OSError):
        return PhotoPlan(skip="the photo is not a readable image")
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise ValueError, SyntaxError, struct.error…
        return PhotoPlan(skip=f"the photo is not a readable image ({type(exc).__name__})")
    if kind not in FORMATS:
        return PhotoPlan(skip=f"the photo is {kind}; Pipedrive takes GIF, JPEG or PNG")
    side = min(width, height)
    if side < MIN_SIZE:
        return PhotoPlan(skip=f"the photo is {width}x{height} px; Pipedrive needs at least {MIN_SIZE} px")
    crop = None
    if width != height:
        crop = Crop((width - side) // 2, (height - side) // 2, side)
    return PhotoPlan(mime=FORMATS[kind], crop=crop)
