"""Schemathesis hooks for scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

One check, `positive_data_acceptance_stated`, takes the place of the built-in
`positive_data_acceptance` (which the script excludes): it is the built-in check, run unchanged,
except for a 422 that names one of the rules below. Each is a rule the server must check against
stored state or the clock, which no JSON Schema can state, and the contract fixes its answer.
Every other refusal of schema-valid data still fails the run, and so does one of these rules
answered any other way (another status, code or field).

| code             | field                 | detail contains        | why JSON Schema cannot say it       |
|------------------|-----------------------|------------------------|-------------------------------------|
| weak_password    | password              |                        | zxcvbn strength, not equal to the   |
|                  |                       |                        | username or email (the contract's   |
|                  |                       |                        | 422 `weak_password`)                |
| validation_error | current_password      | is not the current     | the stored password hash            |
|                  |                       | password               |                                     |
| validation_error | expires_at            | must be in the future  | the clock                           |
| validation_error | roles, roles[N]       | no role named          | the roles that exist now            |
"""
import json
import re

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

STATED_RULES = [
    ("weak_password", re.compile(r"^password$"), ""),
    ("validation_error", re.compile(r"^current_password$"), "is not the current password"),
    ("validation_error", re.compile(r"^expires_at$"), "must be in the future"),
    ("validation_error", re.compile(r"^roles(\[\d+\])?$"), "no role named"),
]


def stated_rule(response):
    """The rule a 422 problem document names, if it is one of STATED_RULES."""
    if response.status_code != 422:
        return None
    if not response.headers.get("content-type", [""])[0].startswith("application/problem+json"):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    code, field, detail = body.get("code"), body.get("field"), body.get("detail") or ""
    for rule_code, rule_field, rule_detail in STATED_RULES:
        if code == rule_code and isinstance(field, str) and rule_field.match(field) and rule_detail in detail:
            return (code, field)
    return None


@schemathesis.check
def positive_data_acceptance_stated(ctx, response, case):
    if stated_rule(response) is not None:
        return None
    return positive_data_acceptance(ctx, response, case)
