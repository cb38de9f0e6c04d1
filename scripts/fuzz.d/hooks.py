"""schemathesis hooks for scripts/fuzz: the rules of aval's validation that JSON Schema cannot
state, applied to the requests schemathesis generates as valid ("positive") ones.

gateway/openapi.json states every rule a schema can: types, ranges, lengths, decimal places,
character sets, the years of dates. A few rules relate two values, or move with the clock, and
no JSON Schema keyword expresses them; the document states them in words. So that a request the
generator calls valid is valid, each positive case is brought within those rules here, changing
as little as it must. Negative cases are left exactly as generated.

  - ids are unique within a batch (customers and orders by id, credit limits by customer and
    date, bureau reports by customer and instant, decision batches by order id);
  - the facts sent with a decision are about the order's customer;
  - a CNPJ or CPF has matching check digits and not all-equal digits;
  - payment-habit shares sum to at most 1 (0.001 of rounding allowed);
  - a date or instant is at most a day in the future (and, with its offset, not before 1900 in UTC);
  - an Idempotency-Key names one batch: the same key with another body is refused, so a
    positive case's key carries a digest of its body;
  - a listing's `cursor` is one the API gave (a positive case has none), and its, an
    export's or a report's `from` is before `to` (else `to` is left out): decisions, their
    activity, the audit log, datasets, training runs, drift, live performance, overrides,
    review requests, experiment comparisons;
    and live performance's `as_of` is not in the future (else it is left out);
  - an audit verification's `head_seq` and `head` come together (a positive case with one of
    them alone has neither);
  - an outcome report names a decision of the company: every report of a positive batch is
    pointed at the order scripts/fuzz decided (AVAL_FUZZ_ORDER_ID), keeping the first report
    of each kind family (a batch may not name one order's family twice), and its
    `occurred_at` is at most a day ahead;
  - a bad-order definition's `within_days` is at least its `days_past_due`;
  - a decision policy (saved, or replayed) names features of the company's model, with an
    operator that suits each (every rule is pointed at the numeric `terms.amount`, a category
    operator becoming `missing`), rule ids and reasons unique, reasons that name a fact, refer
    bands apart, and a replay's `from` before its `to`;
  - an experiment names versions of the company other than its champion, which a generator
    cannot know: a positive experiment names none (its guardrail is kept).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from datetime import date, datetime, timedelta, timezone

import schemathesis

UPLOADS = {
    "/v1/datasets/{id}/customers": "customer",
    "/v1/datasets/{id}/orders": "order",
    "/v1/datasets/{id}/credit-limits": "credit_limit",
    "/v1/datasets/{id}/bureau-reports": "bureau_report",
}
DATE_FIELDS = {"customer": "founded_on", "credit_limit": "valid_from"}
INSTANT_FIELDS = {"order": "issued_at", "bureau_report": "queried_at"}
LISTINGS = (
    "/v1/outcomes",
    "/v1/decisions",
    "/v1/decisions/export",
    "/v1/decisions/activity",
    "/v1/audit",
    "/v1/datasets",
    "/v1/models/runs",
    "/v1/monitoring/drift",
    "/v1/monitoring/performance",
    "/v1/outcomes/overrides",
    "/v1/reviews",
    "/v1/experiments/comparison",
)
AUDIT_VERIFY = "/v1/audit/verify"
OUTCOMES = "/v1/outcomes"
DEFINITION = "/v1/outcomes/definition"
POLICY = "/v1/policy"
REPLAY = "/v1/policy/replay"
EXPERIMENT = "/v1/experiments"
REPAYMENT_KINDS = ("paid_on_time", "paid_late", "defaulted", "written_off")
SEPARATORS = re.compile(r"[./-]")
# Well inside the past: a replacement date that every rule takes.
SAFE_DAY = "2020-01-02"


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    return case_within_rules(context.operation.path, case)


@schemathesis.hook
def before_add_examples(context, examples):
    """The examples phase builds cases from the document's examples, filling what they leave
    out; those cases skip `map_case` and are all meant to be valid."""
    for case in examples:
        case_within_rules(context.operation.path, case)


def case_within_rules(path, case):
    if path in LISTINGS and case.method.upper() == "GET":
        return query_within_rules(case)
    if path == AUDIT_VERIFY and case.method.upper() == "GET":
        return head_within_rules(case)
    # Only bodies of these calls are changed. Any assignment to `case.body` makes schemathesis
    # validate the case again and label it by the result: assigning an absent body (the
    # optional one of POST /v1/models/retrain) would label the case invalid.
    body_paths = ("/v1/decisions", "/v1/decisions/batch", OUTCOMES, DEFINITION, POLICY, REPLAY, EXPERIMENT)
    if path not in UPLOADS and path not in body_paths:
        return case
    if path in (OUTCOMES, DEFINITION, POLICY, EXPERIMENT) and case.method.upper() not in ("POST", "PUT"):
        return case
    if not isinstance(case.body, dict):
        return case
    # Generated cases share parts of their bodies (nested objects of a common template), so a
    # body is copied before it is changed: a change must reach this case only.
    case.body = copy.deepcopy(case.body)
    body = case.body
    if path in UPLOADS and isinstance(body, dict) and isinstance(body.get("items"), list):
        kind = UPLOADS[path]
        for item in body["items"]:
            item_within_rules(kind, item)
        unique_items(kind, body["items"])
        key = case.headers.get("Idempotency-Key") if case.headers else None
        if key:
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
            headers = case.headers.copy()
            headers["Idempotency-Key"] = f"{key[:87]}-{digest}"
            case.headers = headers
    elif path == "/v1/decisions" and isinstance(body, dict):
        decision_request(body)
    elif path == OUTCOMES and isinstance(body.get("reports"), list):
        body["reports"] = reports_within_rules(body["reports"])
    elif path == POLICY:
        policy_within_rules(body)
    elif path == EXPERIMENT:
        for versions in ("challengers", "shadows"):
            if versions in body:
                body[versions] = []
    elif path == REPLAY:
        if isinstance(body.get("policy"), dict):
            policy_within_rules(body["policy"])
        start, end = parsed(str(body.get("from", ""))), parsed(str(body.get("to", "")))
        if start is not None and end is not None and start >= end:
            body.pop("to")
    elif path == DEFINITION:
        days, within = body.get("days_past_due"), body.get("within_days")
        if isinstance(days, (int, float)) and isinstance(within, (int, float)) and within < days:
            body["within_days"] = days
    elif path == "/v1/decisions/batch" and isinstance(body, dict) and isinstance(body.get("orders"), list):
        for entry in body["orders"]:
            if isinstance(entry, dict) and "order" in entry:
                decision_request(entry)
            elif isinstance(entry, dict):
                item_within_rules("order", entry)
        seen = set()
        for i, entry in enumerate(body["orders"]):
            order = entry.get("order", entry) if isinstance(entry, dict) else None
            if isinstance(order, dict) and isinstance(order.get("id"), str):
                if order["id"] in seen:
                    order["id"] = distinct(order["id"], i)
                seen.add(order["id"])
    return case


def policy_within_rules(policy):
    """Rules about a feature the model has, each its own id and reason; bands apart."""
    rules = policy.get("rules")
    if isinstance(rules, list):
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict):
                continue
            rule["feature"] = "terms.amount"
            rule["id"] = f"rule-{i}"
            if rule.get("operator") in ("in", "not_in"):
                rule.pop("levels", None)
                rule["operator"] = "missing"
            rule["reason"] = {
                "en": f"Rule {i} looks at the amount of the order",
                "pt-BR": f"A regra {i} examina o valor do pedido",
            }
    bands = policy.get("refer_bands")
    if isinstance(bands, list):
        kept = []
        for band in bands:
            if not isinstance(band, dict):
                continue
            low, high = band.get("from"), band.get("to")
            if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
                continue
            if all(high <= k["from"] or k["to"] <= low for k in kept):
                kept.append(band)
        policy["refer_bands"] = kept


def reports_within_rules(reports):
    """Each report about the order scripts/fuzz decided, one per kind family."""
    order_id = os.environ.get("AVAL_FUZZ_ORDER_ID")
    if not order_id:
        return reports
    kept, families = [], set()
    for report in reports:
        if not isinstance(report, dict):
            kept.append(report)
            continue
        family = "repayment" if report.get("kind") in REPAYMENT_KINDS else "override"
        if family in families:
            continue
        families.add(family)
        report.pop("request_id", None)
        report["order_id"] = order_id
        report["occurred_at"] = in_the_past(report.get("occurred_at"))
        kept.append(report)
    return kept


def query_within_rules(case):
    if not isinstance(case.query, dict):
        return case
    query = dict(case.query)
    query.pop("cursor", None)
    start, end = parsed(str(query.get("from", ""))), parsed(str(query.get("to", "")))
    if start is not None and end is not None and start >= end:
        query.pop("to")
    as_of = parsed(str(query.get("as_of", "")))
    if as_of is not None and as_of > datetime.now(timezone.utc):
        query.pop("as_of")
    if query != case.query:
        case.query = query
    return case


def head_within_rules(case):
    if not isinstance(case.query, dict):
        return case
    query = dict(case.query)
    if ("head_seq" in query) != ("head" in query):
        query.pop("head_seq", None)
        query.pop("head", None)
    if query != case.query:
        case.query = query
    return case


def decision_request(body):
    order = body.get("order")
    if not isinstance(order, dict):
        return
    item_within_rules("order", order)
    for part, field in (("customer", "id"), ("credit_limit", "customer_id"), ("bureau_report", "customer_id")):
        fact = body.get(part)
        if isinstance(fact, dict):
            item_within_rules(part, fact)
            if "customer_id" in order:
                fact[field] = order["customer_id"]


def item_within_rules(kind, item):
    if not isinstance(item, dict):
        return
    if kind in DATE_FIELDS:
        field = DATE_FIELDS[kind]
        item[field] = in_the_past(item.get(field))
    if kind in INSTANT_FIELDS:
        field = INSTANT_FIELDS[kind]
        item[field] = in_the_past(item.get(field))
    if kind == "customer" and isinstance(item.get("document"), str):
        item["document"] = with_check_digits(item["document"])
    if kind == "bureau_report" and isinstance(item.get("payment_habits"), dict):
        habits = item["payment_habits"]
        shares = {k: v for k, v in habits.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        total = sum(shares.values())
        if total > 1.0:
            for k, v in shares.items():
                habits[k] = v / total * 0.999


def unique_items(kind, items):
    """Makes the batch's keys distinct by changing the id (or customer id) of a repeat."""
    field = "id" if kind in ("customer", "order") else "customer_id"
    seen = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get(field), str):
            continue
        if key(kind, item) in seen:
            item[field] = distinct(item[field], i)
        seen.add(key(kind, item))


def key(kind, item):
    """What must be unique in a batch: the id; a credit limit's customer and (UTC) date; a
    bureau report's customer and instant."""
    if kind == "credit_limit":
        at = parsed(item.get("valid_from"))
        return (item["customer_id"], at.date() if at else item.get("valid_from"))
    if kind == "bureau_report":
        at = parsed(item.get("queried_at"))
        return (item["customer_id"], at or item.get("queried_at"))
    return item["id"]


def distinct(value, i):
    """Another valid id: the original cut short (a whole id is at most 100 characters) and `~i`."""
    return f"{value[:90]}~{i}"


def parsed(text):
    """The UTC instant a date or RFC 3339 timestamp stands for, as aval reads it; None when unread."""
    if not isinstance(text, str):
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), timezone.utc)
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return at.astimezone(timezone.utc) if at.tzinfo else None
    except ValueError:
        return None


def in_the_past(text):
    at = parsed(text)
    if at is None:
        return text
    latest = datetime.now(timezone.utc) + timedelta(hours=23)
    if at > latest or at.year < 1900:
        return SAFE_DAY if len(text) == 10 else f"{SAFE_DAY}T00:00:00Z"
    return text


def with_check_digits(document):
    digits = SEPARATORS.sub("", document)
    if len(digits) not in (11, 14) or not digits.isdigit():
        return document
    base = [int(c) for c in digits[:-2]]
    if len(set(base)) == 1:
        base[0] = (base[0] + 1) % 10
    for _ in range(2):
        base.append(check_digit(base))
    fixed = iter("".join(map(str, base)))
    return "".join(c if not c.isdigit() else next(fixed) for c in document)


def check_digit(digits):
    """The CNPJ/CPF check digit of `digits`, as aval_core::ingest::document computes it."""
    wrap = 9 if len(digits) >= 12 else None
    total = 0
    for i, d in enumerate(reversed(digits)):
        weight = 2 + (i % (wrap - 1) if wrap else i)
        total += d * weight
    rest = total % 11
    return 0 if rest < 2 else 11 - rest
