"""A PNG whose IDAT checksum (CRC) is broken is refused at upload with a 400 naming the problem,
not stored as is (PIL ignores CRC errors while decoding image data)."""

from __future__ import annotations

from .live_server import LiveServer
from .server_helpers import Client, item, page, upload_file


def _break_idat_crc(png: bytes) -> bytes:
    start = png.index(b"IDAT") - 4
    length = int.from_bytes(png[start : start + 4], "big")
    crc_at = start + 8 + length
    return png[:crc_at] + bytes(b ^ 0xFF for b in png[crc_at : crc_at + 4]) + png[crc_at + 4 :]


def test_a_png_with_a_broken_idat_crc_is_refused_at_upload(server: LiveServer) -> None:
    client = Client(server.api(), server.token(), server.repo("acme/crc"))
    image = page(21)
    created = client.create_run([item("x", image)])
    response = upload_file(created["uploads"][0], _break_idat_crc(image.png))
    assert response.status_code == 400, response.text
    assert "IDAT" in response.text and "CRC" in response.text, response.text
