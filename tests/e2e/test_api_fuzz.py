"""schemathesis over the app's own OpenAPI document, authenticated: no server errors."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.support.api_data import credit_body, upload

EXAMPLES = 15


def test_no_input_produces_a_server_error(api) -> None:
    owner = api["owner"]
    real_case = owner.post("/v1/credits", json=credit_body()).json()["id"]
    evidence = upload(owner, real_case).json()["id"]
    auth = {"Authorization": f"Bearer {api.keys['owner']}"}
    schema = schemathesis.openapi.from_url(api.base_url + "/openapi.json")
    failures: list[str] = []
    calls = 0

    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,  # the same examples every run: CI must not flake
                suppress_health_check=list(HealthCheck),
            )
            def exercise(case) -> None:
                nonlocal calls
                params = case.path_parameters or {}
                if "case_id" in params and calls % 2 == 0:
                    params["case_id"] = real_case
                if "evidence_id" in params and calls % 4 == 0:
                    params["evidence_id"] = evidence
                response = case.call(headers=auth)
                calls += 1
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:200]}"
                    )
                if response.status_code >= 400 and case.path.startswith("/v1"):  # not HTML pages
                    assert "application/problem+json" in str(response.headers["content-type"]), (
                        case.method,
                        case.formatted_path,
                        response.status_code,
                    )

            try:
                exercise()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to make invalid (no input)
    assert calls > 100
    assert failures == []
