"""Real HTTP answers checked against the app's OpenAPI document, as strictly as a client
generated from it reads them.

``Contract.check`` is an httpx response hook. For each answer it finds the operation by
method and path, then checks that the status is declared; that the media type is one
the status declares; that a JSON body is valid under its schema (JSON Schema 2020-12,
``jsonschema_rs``, formats checked, ``#/components/...`` resolved), every object but
``OPEN`` closed (a field the document does not describe is an error, as is a ``oneOf``
that more than one branch matches); that each header the status declares ``required`` is there and
every declared header sent is valid under its schema; that the protocol headers the API
sends (``WATCHED``) are declared where they are sent; and that the request headers the
API reads (``READ``) are parameters of the operation they were sent to.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from typing import Any

import httpx
import jsonschema_rs

#: response headers of the API's own protocol: where one is sent, it must be declared
WATCHED = ("etag", "location", "reclaim-position", "retry-after", "idempotent-replayed")
#: request headers the API reads: where one is sent, the operation must declare it
READ = ("idempotency-key", "if-match", "if-none-match")


#: the one object open by design: which attributes an event has follows from its type
OPEN = {"EventPayload"}


def closed(schema: Any) -> Any:
    """A copy of ``schema`` in which every object that lists its properties allows no
    others, even where it says it does (the document itself leaves objects open, so that
    clients accept fields added later)."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: closed(value) for key, value in schema.items()}
    if "properties" in out and out.get("title") not in OPEN:
        out["additionalProperties"] = False
    return out


def media_type(value: str) -> str:
    return value.split(";")[0].strip().lower()


class Contract:
    """The document, ready to check answers against; ``failures`` collects what did not
    hold, ``checked`` counts the answers checked by ``METHOD /template status``."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = closed(copy.deepcopy(document.get("components", {})))
        self.failures: list[str] = []
        self.checked: Counter[str] = Counter()
        self._validators: dict[str, Any] = {}
        # literal paths before templated ones, so /v1/cases never reads as /v1/cases/{id}
        self.routes = sorted(
            (
                (method.upper(), _pattern(template), template)
                for template, item in document["paths"].items()
                for method in item
                if method in ("get", "put", "post", "delete", "patch")
            ),
            key=lambda route: route[2].count("{"),
        )

    # --- the hook ------------------------------------------------------------------------
    def check(self, response: httpx.Response) -> None:
        response.read()
        self.failures.extend(self.problems(response))

    def problems(self, response: httpx.Response) -> list[str]:
        request = response.request
        where = f"{request.method} {request.url.path} -> {response.status_code}"
        template = self.template(request.method, request.url.path)
        if template is None:
            return [f"{where}: no operation in the document"]
        operation = self.document["paths"][template][request.method.lower()]
        self.checked[f"{request.method} {template} {response.status_code}"] += 1
        found = self._request_headers(operation, request, where)
        declared = operation["responses"].get(str(response.status_code))
        if declared is None:
            return [*found, f"{where}: status not declared"]
        found += self._body(declared, response, where)
        found += self._headers(declared, response, where)
        return found

    def template(self, method: str, path: str) -> str | None:
        return next(
            (t for m, pattern, t in self.routes if m == method and pattern.fullmatch(path)),
            None,
        )

    # --- the parts -------------------------------------------------------------------------
    def _request_headers(self, operation: dict[str, Any], request: httpx.Request, where: str):
        params = {
            self._resolve(p)["name"].lower()
            for p in operation.get("parameters", [])
            if self._resolve(p)["in"] == "header"
        }
        return [
            f"{where}: request header {name} is not a parameter of the operation"
            for name in READ
            if name in request.headers and name not in params
        ]

    def _body(self, declared: dict[str, Any], response: httpx.Response, where: str) -> list[str]:
        content = {media_type(k): v for k, v in (declared.get("content") or {}).items()}
        if not response.content:
            return []
        sent = media_type(response.headers.get("content-type", ""))
        if sent not in content:
            return [f"{where}: media type {sent!r} not declared (declared: {sorted(content)})"]
        schema = content[sent].get("schema")
        if schema is None:
            return [f"{where}: {sent} has no schema"]
        if not (sent == "application/json" or sent.endswith("+json")):
            if schema.get("type") != "string":
                return [f"{where}: {sent} is not described as a string"]
            return []
        try:
            body = json.loads(response.content)
        except ValueError as exc:
            return [f"{where}: body is not JSON: {exc}"]
        return [f"{where}: body: {problem}" for problem in self._invalid(schema, body)]

    def _headers(self, declared: dict[str, Any], response: httpx.Response, where: str):
        headers = {
            name.lower(): self._resolve(h) for name, h in declared.get("headers", {}).items()
        }
        found = [
            f"{where}: header {name} is sent but not declared"
            for name in WATCHED
            if name in response.headers and name not in headers
        ]
        for name, header in headers.items():
            value = response.headers.get(name)
            if value is None:
                if header.get("required"):
                    found.append(f"{where}: required header {name} is missing")
                continue
            schema = header.get("schema", {})
            if schema.get("type") == "integer":
                if not re.fullmatch(r"-?[0-9]+", value):
                    found.append(f"{where}: header {name}: {value!r} is not an integer")
                    continue
                value = int(value)
            found += [f"{where}: header {name}: {p}" for p in self._invalid(schema, value)]
        return found

    def _invalid(self, schema: dict[str, Any], instance: Any) -> list[str]:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            root = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "components": self.components,
                "allOf": [closed(schema)],
            }
            validator = self._validators[key] = jsonschema_rs.validator_for(
                root, validate_formats=True
            )
        return [
            f"{'/'.join(map(str, error.instance_path)) or '(root)'}: {_short(error.message)}"
            for error in validator.iter_errors(instance)
        ][:5]

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        ref = item.get("$ref")
        if ref is None:
            return item
        target: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return self._resolve(target)


def _short(message: str, limit: int = 300) -> str:
    """A validator's message names the whole instance: a case body is long."""
    return (
        message if len(message) <= limit else message[: limit // 2] + " … " + message[-limit // 2 :]
    )


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))
