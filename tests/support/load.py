"""Load on real servers for the fault tests: clients adding notes, each note's text
unique, remembering what got a 2xx."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import httpx


class Load:
    """One client thread per case, adding notes through the servers at ``urls`` (case i
    through ``urls[i % len(urls)]``) for ``seconds``.

    Without ``retry`` each note is sent once. With it, each note has an Idempotency-Key
    and is sent again under it after a 503 or a lost connection (then through the last
    server of ``urls``, the survivor) until it is answered, at most 100 times."""

    def __init__(
        self,
        urls: str | list[str],
        key: str,
        cases: list[str],
        *,
        seconds: float,
        retry: bool = False,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else urls
        self.key, self.cases, self.seconds, self.retry = key, cases, seconds, retry
        self.acknowledged: list[tuple[str, str]] = []
        self.statuses: Counter[int] = Counter()
        #: notes still unanswered after every retry
        self.unanswered: list[str] = []
        self.retry_after_ok = True
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, args=(case_id, self.urls[i % len(self.urls)]))
            for i, case_id in enumerate(cases)
        ]

    def _run(self, case_id: str, url: str) -> None:
        deadline = time.monotonic() + self.seconds
        n = 0
        with httpx.Client(timeout=15, headers={"Authorization": f"Bearer {self.key}"}) as client:
            while time.monotonic() < deadline and n < 5000:
                n += 1
                text = f"{case_id[:8]}-{n}"
                headers = {"Idempotency-Key": str(uuid.uuid4())} if self.retry else {}
                for _attempt in range(100 if self.retry else 1):
                    try:
                        response = client.post(
                            f"{url}/v1/cases/{case_id}/notes", json={"text": text}, headers=headers
                        )
                    except httpx.HTTPError:
                        with self.lock:
                            self.statuses[0] += 1  # no answer: its server was gone
                        if self.retry:
                            url = self.urls[-1]
                        time.sleep(0.05)
                        continue
                    with self.lock:
                        self.statuses[response.status_code] += 1
                        if response.status_code == 200:
                            self.acknowledged.append((case_id, text))
                        if response.status_code == 503 and "Retry-After" not in response.headers:
                            self.retry_after_ok = False
                    if response.status_code != 503:
                        break
                    time.sleep(0.05 if self.retry else 0.1)
                else:
                    if self.retry:
                        self.unanswered.append(text)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for t in self.threads:
            t.join(self.seconds + 120)
