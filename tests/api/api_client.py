#!/usr/bin/env python3
"""A client of a Passage node's HTTP API written from docs/api/openapi.json alone.

Python 3 standard library only. Every operation it calls is looked up in the OpenAPI document by
its operationId: the method and the path template come from the document, never from this file,
and answers are checked against the document's schemas (required fields, enum values) and its
declared status codes. Run by tests/e2e/e2e_api_test.cc against a real broker, router and two
agency nodes:

  api_client.py --openapi docs/api/openapi.json --config CONFIG.json --phase main
  api_client.py --openapi docs/api/openapi.json --config CONFIG.json --phase restart

CONFIG.json: {"a_url", "b_url", "keys": {"a", "b", "b_auditor", "b_slow", "b_revoked"},
"intake": IntakeRequest, "state_file"}. Phase main: agency A creates a case, its referral reaches
agency B, B's client finds it in B's event feed and accepts it, A's feed shows the acceptance; then
the bad input (revoked key, wrong role, rate limit, invalid field, unknown referral, oversized
body). Phase restart (after B's node restarted): B's feed still holds the same items, with the same
ids and sequence numbers. Exit status 0 when every check holds; otherwise the failed check on
standard error.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

WAIT_S = 60


class CheckFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CheckFailed(what)
    print("ok:", what)


# ---- the document ---------------------------------------------------------------------------------

def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise CheckFailed("external $ref " + ref)
        node = doc
        for part in ref[2:].split("/"):
            if part not in node:
                raise CheckFailed("unresolved $ref " + ref)
            node = node[part]
    return node


def validate_document(doc):
    """A full OpenAPI 3 validation when openapi-spec-validator is installed, and always the
    structural checks this client relies on."""
    try:
        try:
            from openapi_spec_validator import validate as full_validate
        except ImportError:
            from openapi_spec_validator import validate_spec as full_validate
        full_validate(doc)
        print("ok: the document passes openapi-spec-validator")
    except ImportError:
        print("note: openapi-spec-validator not installed; structural checks only")
    check(str(doc.get("openapi", "")).startswith("3.0."), "the document is OpenAPI 3.0")
    check("title" in doc.get("info", {}) and "version" in doc.get("info", {}), "info has title and version")
    schemes = doc.get("components", {}).get("securitySchemes", {})
    check(any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes.values()),
          "a bearer security scheme is declared")
    ids = set()
    for path, item in doc["paths"].items():
        check(path.startswith("/"), "path %s starts with /" % path)
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            check("operationId" in op and op["operationId"] not in ids,
                  "%s %s has a unique operationId" % (method, path))
            ids.add(op["operationId"])
            check(op.get("responses"), "%s has responses" % op["operationId"])
            for code, r in op["responses"].items():
                resolve(doc, r)
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    check("{%s}" % p["name"] in path, "%s: path parameter %s is in the path" %
                          (op["operationId"], p["name"]))

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                resolve(doc, node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    print("ok: every $ref resolves")


class Api:
    """Calls operations by operationId on one node with one key."""

    def __init__(self, doc, base_url, key):
        self.doc = doc
        self.base = base_url.rstrip("/")
        self.key = key
        self.ops = {}
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if isinstance(op, dict) and "operationId" in op:
                    self.ops[op["operationId"]] = (method.upper(), path, op)

    def call(self, op_id, path_params=None, query=None, body=None, raw_body=None, key="default"):
        """(status, headers, json) of one call; checks the status is one the document declares
        and the answer matches the declared schema."""
        method, template, op = self.ops[op_id]
        path = template
        for p in op.get("parameters", []):
            if p["in"] == "path":
                path = path.replace("{%s}" % p["name"],
                                    urllib.parse.quote(str(path_params[p["name"]]), safe=""))
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = raw_body
        if data is None and body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        k = self.key if key == "default" else key
        if k is not None:
            req.add_header("Authorization", "Bearer " + k)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, headers, text = resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as e:
            status, headers, text = e.code, e.headers, e.read().decode()
        answer = json.loads(text) if text else None
        declared = op["responses"]
        check(str(status) in declared, "%s answered %d, a status the document declares for it" %
              (op_id, status))
        response = resolve(self.doc, declared[str(status)])
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            self.conforms(answer, schema, op_id + " answer")
        return status, headers, answer

    def conforms(self, value, schema, where):
        schema = resolve(self.doc, schema)
        t = schema.get("type")
        if t == "object":
            if not isinstance(value, dict):
                raise CheckFailed("%s: expected an object, got %r" % (where, value))
            for r in schema.get("required", []):
                if r not in value:
                    raise CheckFailed("%s: the required field %s is missing" % (where, r))
            for name, sub in schema.get("properties", {}).items():
                if name in value:
                    self.conforms(value[name], sub, where + "." + name)
        elif t == "array":
            if not isinstance(value, list):
                raise CheckFailed("%s: expected an array" % where)
            for i, v in enumerate(value):
                self.conforms(v, schema.get("items", {}), "%s[%d]" % (where, i))
        elif t == "string":
            if not isinstance(value, str):
                raise CheckFailed("%s: expected a string, got %r" % (where, value))
            if "enum" in schema and value not in schema["enum"]:
                raise CheckFailed("%s: %r is not one of the document's values" % (where, value))
        elif t == "integer":
            if not isinstance(value, int):
                raise CheckFailed("%s: expected an integer, got %r" % (where, value))


# ---- the scenario ---------------------------------------------------------------------------------

def wait_feed(api, want, what, after=0):
    """The first feed item for which want(item) holds, polling the feed from `after`."""
    deadline = time.time() + WAIT_S
    cursor = after
    while time.time() < deadline:
        status, _, page = api.call("listEvents", query={"after": cursor, "limit": 100})
        if status == 200:
            for item in page["items"]:
                if want(item):
                    print("ok:", what, "(feed item", item["seq"], item["kind"], ")")
                    return item
            cursor = page["next_after"]
        time.sleep(0.3)
    raise CheckFailed("no feed item within %d s: %s" % (WAIT_S, what))


def expect_error(result, status, code, field=None, what=""):
    got_status, headers, body = result
    check(got_status == status and body["code"] == code and (field is None or field in body["field"]),
          "%s: %d %s%s (got %d %s)" % (what, status, code, "" if field is None else " naming " + field,
                                        got_status, json.dumps(body)))
    return headers, body


def main_phase(doc, cfg):
    keys = cfg["keys"]
    a = Api(doc, cfg["a_url"], keys["a"])
    b = Api(doc, cfg["b_url"], keys["b"])

    # A creates a case; the routing rules refer it to B.
    status, _, created = a.call("createCase", body=cfg["intake"])
    check(status == 201 and created["case_id"], "A created case %s" % created)
    case_id = created["case_id"]

    new = wait_feed(b, lambda i: i["kind"] == "FEED_EVENT_KIND_NEW_REFERRAL" and i["case_id"] == case_id,
                    "B's feed shows the new referral of the case")
    check(new["to_agency"] and new["from_agency"] and "given_name" not in json.dumps(new),
          "the feed item names agencies and holds no personal data")
    referral_id = new["referral_id"]
    wait_feed(b, lambda i: i["referral_id"] == referral_id and i["status"] == "REFERRAL_STATUS_RECEIVED",
              "B's node received the referral", after=int(new["seq"]) - 1)

    status, _, inbox = b.call("listReferrals", query={"status": ["RECEIVED"], "page_size": 10})
    check(status == 200 and any(r["referral_id"] == referral_id for r in inbox.get("referrals", [])),
          "B's inbox lists the referral as RECEIVED")

    status, _, moved = b.call("moveReferral", path_params={"referral_id": referral_id, "action": "accept"},
                              body={"note": "bed available"})
    check(status == 200 and moved["status"] == "ACCEPTED", "B accepted the referral: %s" % moved)

    wait_feed(a, lambda i: i["referral_id"] == referral_id and i["status"] == "REFERRAL_STATUS_ACCEPTED",
              "A's feed shows the acceptance")
    status, _, case = b.call("getCase", path_params={"case_id": case_id})
    check(status == 200 and case["case_id"] == case_id, "B reads the case it accepted")
    status, _, journey = a.call("getJourney", path_params={"case_id": case_id})
    check(status == 200 and journey["case_id"] == case_id, "A reads the journey")

    # Personal data: POST only, with a purpose (recorded in the access log before it is shown).
    expect_error(b.call("openPersonalData", path_params={"case_id": case_id}, body={}), 400, "invalid",
                 "purpose", "opening personal data without a purpose")
    deadline = time.time() + WAIT_S
    while True:
        status, _, pd = b.call("openPersonalData", path_params={"case_id": case_id},
                               body={"purpose": "arrange a shelter bed"})
        if status == 200 or time.time() > deadline:
            break
        time.sleep(0.5)
    check(status == 200 and pd.get("given_name") == cfg["intake"]["personal"]["given_name"],
          "B opens the personal data the accepted referral grants")
    status, _, journey = b.call("getJourney", path_params={"case_id": case_id})
    check(status == 200 and any(e["event"] == "record_accessed" and "arrange a shelter bed" in e["text"]
                                for e in journey["entries"]),
          "the journey shows the read with its purpose")

    # Bad input.
    unknown = str(uuid.uuid4())
    expect_error(b.call("moveReferral", path_params={"referral_id": unknown, "action": "accept"}, body={}),
                 404, "not_found", "referral_id", "an unknown referral")
    expect_error(b.call("listEvents", key=keys["b_revoked"]), 401, "unauthenticated", None, "a revoked key")
    expect_error(b.call("listEvents", key=None), 401, "unauthenticated", "Authorization", "no key")
    expect_error(b.call("listEvents", key=keys["b_auditor"]), 403, "forbidden", None,
                 "an auditor's key on the feed")
    bad = json.loads(json.dumps(cfg["intake"]))
    bad["profile"]["age_years"] = 400
    expect_error(a.call("createCase", body=bad), 400, "invalid", "age", "an impossible age")
    bad = json.loads(json.dumps(cfg["intake"]))
    bad["crime_type"] = "CRIME_TYPE_PICKPOCKETING"
    expect_error(a.call("createCase", body=bad), 400, "invalid", "crime_type", "an unknown crime type")
    bad = json.loads(json.dumps(cfg["intake"]))
    bad["profile"]["sex"] = "SEX_BOTH"
    expect_error(a.call("createCase", body=bad), 400, "invalid", "profile", "an unknown sex")
    bad = json.loads(json.dumps(cfg["intake"]))
    bad["profile"]["favourite_colour"] = "blue"
    expect_error(a.call("createCase", body=bad), 400, "invalid", "profile.favourite_colour", "an unknown field")
    expect_error(b.call("listReferrals", query={"status": ["MAYBE"]}), 400, "invalid", "status",
                 "an unknown status filter")
    expect_error(b.call("moveReferral", path_params={"referral_id": referral_id, "action": "reject"}, body={}),
                 400, "invalid", "reason", "a rejection without a reason")
    expect_error(b.call("listEvents", query={"limit": 5000}), 400, "invalid", "limit", "a limit over 1000")
    big = json.dumps({"crime_type": "CRIME_TYPE_TIP", "screening_tool": "x" * (70 * 1024)}).encode()
    expect_error(a.call("createCase", raw_body=big), 413, "too_large", None, "a body over 64 KiB")
    # The slow key may make 3 requests a minute: the fourth is refused with Retry-After.
    for n in range(3):
        status, _, _ = b.call("listEvents", key=keys["b_slow"])
        check(status == 200, "slow key request %d accepted" % (n + 1))
    headers, _ = expect_error(b.call("listEvents", key=keys["b_slow"]), 429, "rate_limited", None,
                              "the slow key's fourth request in a minute")
    check(int(headers["Retry-After"]) >= 1, "Retry-After says when to come back")

    with open(cfg["state_file"], "w") as f:
        json.dump({"case_id": case_id, "referral_id": referral_id, "new_item": new}, f)


def restart_phase(doc, cfg):
    with open(cfg["state_file"]) as f:
        state = json.load(f)
    b = Api(doc, cfg["b_url"], cfg["keys"]["b"])
    new = state["new_item"]
    item = wait_feed(b, lambda i: i["id"] == new["id"], "B's feed still holds the new referral after a restart")
    check(item["seq"] == new["seq"] and item["kind"] == new["kind"],
          "with the same sequence number and kind")
    status, _, page = b.call("listEvents", query={"after": int(new["seq"])})
    check(status == 200 and any(i["referral_id"] == state["referral_id"] and
                                i["status"] == "REFERRAL_STATUS_ACCEPTED" for i in page["items"]),
          "and the acceptance after it")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--openapi", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--phase", choices=["main", "restart", "document"], required=True)
    args = ap.parse_args()
    with open(args.openapi) as f:
        doc = json.load(f)
    try:
        validate_document(doc)
        if args.phase == "document":
            return 0
        with open(args.config) as f:
            cfg = json.load(f)
        main_phase(doc, cfg) if args.phase == "main" else restart_phase(doc, cfg)
    except CheckFailed as e:
        print("FAILED:", e, file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
