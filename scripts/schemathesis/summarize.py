#!/usr/bin/env python3
"""Distinct failures of one Schemathesis run, from its VCR cassette (--report vcr).

  summarize.py CASSETTE SPEC

SPEC (a file or URL) maps request paths back to the spec's path templates. Prints, per failed check
and operation, each distinct (status, server's message) with one test case id and its phase and
generation mode; then, for every operation, the distinct reasons the server gave for refusing data
that Schemathesis generated as schema-valid (400/413/415/422), which is what a spec has to state
(as minLength, pattern, enum, ...) for positive_data_acceptance to pass. Schemathesis' own output
shows one example per operation and check; this lists every distinct one. Read-only; exit 0.
"""

import collections
import json
import re
import sys
import urllib.parse
import urllib.request

import yaml

try:
    from yaml import CSafeLoader as Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as Loader


def load_spec(location):
    if location.startswith(("http://", "https://")):
        with urllib.request.urlopen(location, timeout=10) as res:
            return json.loads(res.read())
    with open(location, "rb") as f:
        return json.loads(f.read())


def templates(spec):
    out = []
    for path, item in spec.get("paths", {}).items():
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
        out.append((re.compile(rx), path, {m.lower() for m in item}))
    # Literal paths before templated ones (/users/me before /users/{id}).
    out.sort(key=lambda t: t[1].count("{"))
    return out


def operation(tpls, method, uri):
    path = urllib.parse.urlsplit(uri).path
    for rx, template, methods in tpls:
        if method.lower() in methods and rx.match(path):
            return f"{method} {template}"
    return f"{method} {path}"


def reason(body):
    """The server's own words: a problem document's detail, an OAuth2 error's description; else ''."""
    try:
        doc = json.loads(body)
    except (ValueError, TypeError):
        return ""
    if not isinstance(doc, dict):
        return ""
    for key in ("detail", "error_description", "error"):
        if isinstance(doc.get(key), str) and doc[key]:
            return doc[key][:200]
    return ""


QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
TICKED = re.compile(r"`[^`]*`")
REPEATED = re.compile(r"^.* is repeated$", re.S)


def normalize(why):
    """One line per rule, not per generated value: quoted and back-ticked values become ..."""
    why = REPEATED.sub("<a parameter> is repeated", why)
    why = QUOTED.sub('"..."', why)
    return TICKED.sub("`...`", why)


def main(cassette, spec_location):
    with open(cassette, encoding="utf-8") as f:
        data = yaml.load(f, Loader=Loader) or {}
    tpls = templates(load_spec(spec_location))
    failures = collections.defaultdict(dict)
    refused = collections.defaultdict(collections.Counter)
    for it in data.get("http_interactions") or []:
        req = it["request"]
        res = it.get("response")
        op = operation(tpls, req["method"], req["uri"])
        phase = (it.get("phase") or {}).get("name", "?")
        mode = (it.get("generation") or {}).get("mode", "?")
        if res is None:
            status, why = "-", "no response"
        else:
            status = int(res["status"]["code"])
            why = normalize(reason((res.get("body") or {}).get("string", "")))
        for check in it.get("checks") or []:
            if check.get("status") != "FAILURE":
                continue
            message = " ".join((check.get("message") or "").split())[:160]
            key = (status, message, why)
            failures[(check["name"], op)].setdefault(key, (it["id"], phase, mode))
        if mode == "positive" and status in (400, 413, 415, 422):
            refused[op][(status, why)] += 1

    print(f"distinct failures ({len(failures)} check/operation pairs):")
    for (check, op), cases in sorted(failures.items()):
        print(f"  {check}  {op}")
        for (status, message, why), (case_id, phase, mode) in cases.items():
            said = f" | server: {why}" if why else ""
            print(f"      [{status}] {message}{said} | case {case_id}, {phase}, {mode}")
    print("schema-valid data the server refused, by operation (what the spec does not say):")
    for op in sorted(refused):
        print(f"  {op}")
        for (status, why), n in refused[op].most_common():
            print(f"      [{status}] x{n} {why}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
