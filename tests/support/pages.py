"""Reading a rendered page back: its charts' bars, tiles and every URL it names."""

from __future__ import annotations

from html.parser import HTMLParser


class PageReader(HTMLParser):
    """Collects each chart's bars, the tiles, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.chart: str | None = None
        self.bars: dict[str, list[tuple[str, str, str]]] = {}
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.tiles: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.add(tag)
        if tag == "svg":
            self.chart = values.get("id")
            self.bars.setdefault(self.chart or "", [])
        if tag == "rect" and values.get("class") == "bar":
            self.bars[self.chart or ""].append(
                (values["data-label"], values["data-series"], values["data-value"])
            )
        if values.get("data-tile"):
            self.tiles[values["data-tile"]] = ""
        self.urls += [v or "" for k, v in attrs if k in ("src", "href", "action", "xlink:href")]


def read(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    return reader
