"""The bare endpoint: FastAPI, a POST with a pydantic body, nothing else.

``/items`` is ``async def`` (runs on the event loop); ``/items-sync`` is a plain
``def`` like Reclaim's command routes (run in the thread pool), so the cost of
that hop shows too.
"""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Item(BaseModel):
    platform: str
    amount: str
    currency: str
    message: str | None = None


class Created(BaseModel):
    id: int
    platform: str
    amount: str
    currency: str


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/items", status_code=201, response_model=Created)
async def create_item(item: Item) -> Created:
    return Created(id=1, platform=item.platform, amount=item.amount, currency=item.currency)


@app.post("/items-sync", status_code=201, response_model=Created)
def create_item_sync(item: Item) -> Created:
    return Created(id=1, platform=item.platform, amount=item.amount, currency=item.currency)
