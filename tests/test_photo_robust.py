"""photo.plan_photo never raises, whatever the bytes (issue 11)."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from contactsync.crm.pipedrive_photo import plan_photo


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, "red").save(buf, "PNG")
    return buf.getvalue()


HEADERS = [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff\xe0", b"BM", _png((200, 200))[:60]]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(HEADERS), st.binary(max_size=200))
def test_any_bytes_give_an_upload_or_a_skip(header: bytes, tail: bytes) -> None:
    plan = plan_photo(header + tail)
    assert (plan.skip is None) == (plan.mime is not None)


def test_a_truncated_image_is_skipped_with_a_reason() -> None:
    whole = _png((300, 300))
    assert plan_photo(whole).mime == "image/png"
    assert plan_photo(whole[: len(whole) // 2]).skip == "the photo is not a readable image"
    assert plan_photo(b"").skip == "the photo is empty"


def test_a_decompression_bomb_is_skipped(monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    plan = plan_photo(_png((300, 300)))
    assert plan.skip is not None and "too large" in plan.skip
