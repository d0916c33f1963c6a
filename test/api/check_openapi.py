#!/usr/bin/env python3
"""Checks recorded Device API answers against docs/openapi.yaml.

usage: check_openapi.py OPENAPI_YAML RECORDS_JSONL

Each record is one answer the integration test received from a running
broker: {"method","path","status","content_type","body"}. The check fails
when a documented operation never answered with a success, when an answer
has a status or content type the document does not list for it, when a
path answers that the document does not have, or when a JSON body does not
validate against the documented schema (JSON Schema 2020-12).
"""
import json
import re
import sys

import jsonschema
import yaml


def main(doc_path, records_path):
    doc = yaml.safe_load(open(doc_path, encoding="utf-8"))
    templates = []
    for template, item in doc["paths"].items():
        regex = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        for method, op in item.items():
            if method in ("get", "post", "put", "delete"):
                templates.append((re.compile(regex), template, method.upper(), op))
    succeeded = set()
    failures = []
    checked = 0
    for line in open(records_path, encoding="utf-8"):
        if not line.strip():
            continue
        r = json.loads(line)
        path = r["path"].split("?", 1)[0]
        match = [t for t in templates if t[0].match(path) and t[2] == r["method"]]
        # A literal path wins over a template (/devices/x/zones/history).
        match.sort(key=lambda t: t[1].count("{"))
        if not match:
            failures.append(f"{r['method']} {path}: not in the document")
            continue
        _, template, method, op = match[0]
        status = str(r["status"])
        responses = op.get("responses", {})
        if status not in responses:
            failures.append(f"{method} {template}: status {status} is not documented")
            continue
        response = responses[status]
        if "$ref" in response:
            response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        if 200 <= r["status"] < 300:
            succeeded.add((template, method))
        content = response.get("content")
        media = (r.get("content_type") or "").split(";", 1)[0].strip()
        if not content:
            if r.get("body"):
                failures.append(f"{method} {template} {status}: a body where none is documented")
            continue
        if media not in content:
            failures.append(f"{method} {template} {status}: content type {media!r} is not documented")
            continue
        schema = content[media].get("schema")
        if schema is None or not media.endswith("json"):
            continue
        try:
            body = json.loads(r["body"])
        except ValueError as e:
            failures.append(f"{method} {template} {status}: not JSON: {e}")
            continue
        root = dict(schema)
        root["components"] = doc["components"]
        validator = jsonschema.Draft202012Validator(root)
        for error in sorted(validator.iter_errors(body), key=lambda e: list(e.path)):
            where = "/" + "/".join(str(p) for p in error.path)
            failures.append(f"{method} {template} {status}: {where}: {error.message}")
        checked += 1
    for _, template, method, _ in templates:
        if (template, method) not in succeeded:
            failures.append(f"{method} {template}: never answered with a success")
    for f in failures:
        print(f)
    print(f"{checked} JSON answers validated, {len(succeeded)}/{len(templates)} operations "
          f"succeeded, {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
