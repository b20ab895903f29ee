"""Evidence over real HTTP, kept in the store: a file uploaded to one node downloads from
another with a data directory of its own, byte for byte with the same headers, and a
file the store does not hold is the same 404 as before. Both stores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from infrastructure.settings import Settings
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.blobs import CHUNK_BYTES
from tests.support.api_data import credit_body, upload
from tests.support.blobs import another_node, png_of
from tests.support.live import Client, live_server

BIG = png_of(2 * CHUNK_BYTES + CHUNK_BYTES // 2, b"big")  # three chunks
TEXT = "Reçu n° 42: 25,00 €\n".encode()


@pytest.fixture
def key(settings: Settings) -> str:
    setup = ReclaimApplication(settings)
    made, _ = setup.keys.create("alice", "home", "member")
    setup.close()
    return made


@contextmanager
def signed_in(base_url: str, key: str) -> Iterator[httpx.Client]:
    """A browser without JavaScript, signed in to the case book."""
    with httpx.Client(base_url=base_url, timeout=30) as browser:
        origin = {"Origin": base_url}
        assert browser.post("/app/sign-in", data={"api_key": key}, headers=origin).status_code
        yield browser


def check_download(response: httpx.Response, data: bytes, media_type: str, name: str) -> None:
    assert response.status_code == 200, response.text
    assert response.content == data
    assert response.headers["content-type"].split(";")[0] == media_type
    assert response.headers["content-length"] == str(len(data))
    assert response.headers["content-disposition"] == f"attachment; filename*=UTF-8''{name}"
    assert response.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_file_uploaded_on_one_node_downloads_from_another(settings, key, tmp_path) -> None:
    with live_server(settings) as first, Client(first, key) as client:
        cid = client.post("/v1/credits", json=credit_body()).json()["id"]
        big = upload(client, cid, data=BIG, filename="wallet.png")
        text = upload(client, cid, data=TEXT, media_type="text/plain", filename="reçu.txt")
        assert big.status_code == text.status_code == 201, (big.text, text.text)
        assert big.json()["size"] == len(BIG)
        other = another_node(settings, tmp_path)
        with live_server(other) as second, Client(second, key) as elsewhere:
            got = elsewhere.get(f"/v1/cases/{cid}/evidence/{big.json()['id']}")
            check_download(got, BIG, "image/png", "wallet.png")
            got = elsewhere.get(f"/v1/cases/{cid}/evidence/{text.json()['id']}")
            check_download(got, TEXT, "text/plain", "re%C3%A7u.txt")
            etag = got.headers["etag"]
            again = elsewhere.get(
                f"/v1/cases/{cid}/evidence/{text.json()['id']}", headers={"If-None-Match": etag}
            )
            assert again.status_code == 304 and again.content == b""
            with signed_in(second, key) as browser:
                page = browser.get(f"/app/cases/{cid}/evidence/{big.json()['id']}")
                check_download(page, BIG, "image/png", "wallet.png")
                assert page.headers["cache-control"] == "private, no-store"
                assert page.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert not (other.data_dir / "evidence").exists()
    assert not (settings.data_dir / "evidence").exists()


def test_a_file_the_store_does_not_hold_is_the_same_404_as_evidence_it_never_had(
    settings, key
) -> None:
    with live_server(settings) as url, Client(url, key) as client:
        cid = client.post("/v1/credits", json=credit_body()).json()["id"]
        created = upload(client, cid, data=TEXT, media_type="text/plain").json()
        never = client.get(f"/v1/cases/{cid}/evidence/ev_0000000000000000")
        assert never.status_code == 404
        assert never.headers["content-type"] == "application/problem+json"
        assert never.json()["type"].endswith("/evidence-not-found")
        app = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
        try:  # the file is lost from the store (a bad restore, say)
            for table in ("reclaim_blob_chunks", "reclaim_blobs"):
                app.database.execute(  # (a sealed file is named <key id>/<sha256>)
                    f"DELETE FROM {table} WHERE sha256 LIKE %s", (f"%{created['sha256']}",)
                )
        finally:
            app.close()
        lost = client.get(f"/v1/cases/{cid}/evidence/{created['id']}")
        assert lost.status_code == 404
        assert lost.json()["type"] == never.json()["type"]
        assert lost.json()["detail"] == f"no evidence {created['id']} on this case"
        with signed_in(url, key) as browser:
            for evidence_id in (created["id"], "ev_0000000000000000"):
                page = browser.get(f"/app/cases/{cid}/evidence/{evidence_id}")
                assert page.status_code == 404
                assert page.headers["content-type"].startswith("text/html")
