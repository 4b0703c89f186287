"""schemathesis against the service's own OpenAPI schema: no 5xx, no response that breaks it,
no value outside the schema accepted."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.main import app

# A query over 8 KiB is invalid data too, rightly refused with 414 (app/limits.py) rather than 400.
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 404, 405, 414, 422, 431]}}}
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case) -> None:
    # Every other check runs. "Schema-valid request accepted" cannot hold: rules joining options
    # (pod and service networks overlapping, a CIDR's host bits) are beyond what OpenAPI query
    # parameters express, so a schema-valid query may rightly get a 400 naming the rule.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


def test_the_schema_describes_each_option_exactly() -> None:
    """Spot checks of the generated parameter schemas that the fuzzing above relies on."""
    import re

    params = {p["name"]: p["schema"] for p in app.openapi()["paths"]["/kubernetes-init"]["get"]["parameters"]}
    bool_pattern = params["encrypt_network"]["pattern"]
    assert all(re.fullmatch(bool_pattern, w) for w in ("", "1", "0", "TRUE", "No", "oFf"))
    assert not any(re.fullmatch(bool_pattern, w) for w in ("2", "truth", "y", " on"))
    assert params["weave_mtu"]["anyOf"][0] == {"type": "integer", "minimum": 576, "maximum": 9000}
    assert params["kube_proxy_mode"]["enum"] == ["iptables", "ipvs", "nftables"]
    assert "enum" not in params["kubernetes_version"]  # 1.37.2 is fine too
