"""deploy/: the Prometheus rules (promtool check + unit tests), the scrape config and the Grafana
dashboard, held to the metrics contract of `aidledger serve` (aidledger/metrics_contract.py).

Every PromQL expression of the rules and of the dashboard is read by a small tokenizer: the
metric names it selects must be in the contract (or be `up`, or a recording rule of rules.yml),
and the label names of its matchers and by/without clauses must be labels of those metrics (or
target labels). There is no YAML parser in the venv: rules.yml is read line by line (its exprs
are one-line plain or double-quoted scalars, or `|` blocks), and the count of rules read is
checked against the count promtool reports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aidledger.metrics_contract import METRICS, REMINDER_FINDING_TYPE
from ledger.payment import SEVERITY as LEDGER_SEVERITY
from reconciliation.checks import SEVERITY

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
RULES_TEST = PROMETHEUS / "rules_test.yml"
SCRAPE_CONFIG = PROMETHEUS / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "aidledger.json"

#: Labels Prometheus attaches from the scrape target.
TARGET_LABELS = frozenset({"job", "instance"})
#: Series that are not the exporter's but Prometheus's own.
PROMETHEUS_SERIES: dict[str, tuple[str, ...]] = {"up": ()}

# -- a small PromQL reader ----------------------------------------------------------------------

AGGREGATIONS = frozenset(
    {
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    }
)  # fmt: skip
FUNCTIONS = frozenset(
    {
        "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
        "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
        "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
        "delta", "deriv", "double_exponential_smoothing", "exp", "floor", "histogram_avg",
        "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
        "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
        "info", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
        "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi",
        "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
        "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc",
        "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan",
        "tanh", "time", "timestamp", "vector", "year",
    }
)  # fmt: skip
#: Clauses whose parenthesised list holds label names.
GROUPING = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
KEYWORDS = frozenset({"and", "or", "unless", "atan2", "offset", "bool", "inf", "nan"})
#: `@ start()` / `@ end()`.
AT_FUNCTIONS = frozenset({"start", "end"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<var>\$\{[^}]*\}|\$\w+)
  | (?P<range>\[[^\]]*\])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+(?:ms|[smhdwy]))+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<punct>!=|=~|!~|==|<=|>=|[{}(),=<>+\-*/%^@])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # string | var | range | number | ident | punct
    text: str


def tokenize(expr: str) -> list[Token]:
    """PromQL (with Grafana's `$var` / `${var}`) as tokens; range selectors `[...]` are one."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot read {expr[pos : pos + 20]!r} in {expr!r}")
        kind = m.lastgroup
        assert kind is not None
        if kind == "number" and re.match(r"[A-Za-z_:]", expr[m.end() : m.end() + 1]):
            raise ValueError(f"cannot read {m.group()!r}… in {expr!r}")
        if kind not in ("space", "comment"):
            tokens.append(Token(kind, m.group()))
        pos = m.end()
    return tokens


@dataclass(slots=True)
class Selector:
    metric: str
    labels: set[str]  # label names of its matchers


@dataclass(slots=True)
class Grouping:
    clause: str  # by, without, on, ignoring, group_left, group_right
    labels: set[str]
    metrics: set[str]  # the metrics whose labels these are


@dataclass(slots=True)
class Usage:
    """What one expression refers to."""

    selectors: list[Selector] = field(default_factory=list)
    groupings: list[Grouping] = field(default_factory=list)
    unknown_functions: set[str] = field(default_factory=set)

    @property
    def metrics(self) -> set[str]:
        return {s.metric for s in self.selectors}


def _closing(tokens: list[Token], start: int) -> int:
    """Index of the bracket closing the one at `start`."""
    pairs = {"(": ")", "{": "}"}
    opening = tokens[start].text
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].kind != "punct":
            continue
        if tokens[i].text == opening:
            depth += 1
        elif tokens[i].text == pairs[opening]:
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced {opening!r}")


def _matchers(tokens: list[Token]) -> tuple[set[str], str | None]:
    """The label names of `label op "value", ...` and the value of `__name__="..."`, if any."""
    labels: set[str] = set()
    name = None
    i = 0
    while i < len(tokens):
        if i + 2 >= len(tokens):
            raise ValueError(f"bad matcher: {' '.join(t.text for t in tokens[i:])}")
        label, op, value = tokens[i], tokens[i + 1], tokens[i + 2]
        if (
            label.kind != "ident"
            or op.text not in ("=", "!=", "=~", "!~")
            or value.kind != "string"
        ):
            raise ValueError(f"bad matcher: {label.text} {op.text} {value.text}")
        if label.text == "__name__" and op.text == "=":
            name = value.text[1:-1]
        labels.add(label.text)
        i += 3
        if i < len(tokens):
            if tokens[i].text != ",":
                raise ValueError(f"expected ',' between matchers, got {tokens[i].text!r}")
            i += 1
    labels.discard("__name__")
    return labels, name


def _aggregated_span(tokens: list[Token], clause: int, clause_end: int) -> tuple[int, int]:
    """The token span of the expression a `by`/`without` clause (at `clause`..`clause_end`)
    aggregates: `agg by (…) (EXPR)` or `agg (EXPR) by (…)`."""
    after = clause_end + 1
    if after < len(tokens) and tokens[after].text == "(":
        return after, _closing(tokens, after)
    before = clause - 1
    if before >= 0 and tokens[before].text == ")":
        depth = 0
        for i in range(before, -1, -1):
            if tokens[i].text == ")":
                depth += 1
            elif tokens[i].text == "(":
                depth -= 1
                if depth == 0:
                    return i, before
    raise ValueError(f"{tokens[clause].text} clause aggregates nothing")


def read_promql(expr: str) -> Usage:
    """The metric selectors of a PromQL expression, the label names of their matchers, the label
    names of its by/without/on/ignoring/group_* clauses, and calls of unknown functions.

    Not a full parser: a by/without clause is checked against the metrics of the expression it
    aggregates; on/ignoring/group_* (which relate two sides) against every metric of the
    expression. Labels made by label_replace/label_join/count_values are not followed."""
    tokens = tokenize(expr)
    usage = Usage()
    positions: list[int] = []  # token index of each selector
    clauses: list[tuple[str, set[str], int, int]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.kind == "punct" and tok.text == "{":  # {__name__="…"}
            end = _closing(tokens, i)
            labels, name = _matchers(tokens[i + 1 : end])
            if name is None:
                raise ValueError(f"a selector without a metric name in {expr!r}")
            usage.selectors.append(Selector(name, labels))
            positions.append(i)
            i = end + 1
            continue
        if tok.kind != "ident":
            i += 1
            continue
        word = tok.text.lower()
        if word in GROUPING:
            if nxt is None or nxt.text != "(":
                if word in ("group_left", "group_right"):
                    i += 1
                    continue
                raise ValueError(f"{tok.text} without a label list in {expr!r}")
            end = _closing(tokens, i + 1)
            names = tokens[i + 2 : end]
            labels = {t.text for t in names if t.kind == "ident"}
            if any(t.kind != "ident" and t.text != "," for t in names):
                raise ValueError(f"bad label list after {tok.text} in {expr!r}")
            clauses.append((word, labels, i, end))
            i = end + 1
            continue
        if word in KEYWORDS:
            i += 1
            continue
        if nxt is not None and nxt.text == "(":
            if word in AT_FUNCTIONS and i > 0 and tokens[i - 1].text == "@":
                pass
            elif word not in AGGREGATIONS and word not in FUNCTIONS:
                usage.unknown_functions.add(tok.text)
            i += 1
            continue
        if word in AGGREGATIONS and nxt is not None and nxt.text.lower() in ("by", "without"):
            i += 1
            continue
        # A metric name, perhaps with matchers.
        labels = set()
        end = i
        if nxt is not None and nxt.text == "{":
            end = _closing(tokens, i + 1)
            labels, name = _matchers(tokens[i + 2 : end])
            if name is not None and name != tok.text:
                raise ValueError(f"{tok.text} with __name__={name!r} in {expr!r}")
        usage.selectors.append(Selector(tok.text, labels))
        positions.append(i)
        i = end + 1
    for clause, labels, start, end in clauses:
        if clause in ("by", "without"):
            lo, hi = _aggregated_span(tokens, start, end)
            metrics = {
                s.metric for s, p in zip(usage.selectors, positions, strict=True) if lo < p < hi
            }
        else:
            metrics = usage.metrics
        usage.groupings.append(Grouping(clause, labels, metrics))
    return usage


def contract_problems(expr: str, known: Mapping[str, tuple[str, ...]]) -> list[str]:
    """What in `expr` is not in `known` (metric name -> its labels; target labels go with every
    metric): unknown metrics, labels a metric does not have, unknown functions."""
    usage = read_promql(expr)
    problems = [f"unknown function {f}()" for f in sorted(usage.unknown_functions)]
    for sel in usage.selectors:
        if sel.metric not in known:
            problems.append(f"metric {sel.metric} is not in the metrics contract")
            continue
        for label in sorted(sel.labels - set(known[sel.metric]) - TARGET_LABELS):
            problems.append(f"{sel.metric} has no label {label!r}")
    for g in usage.groupings:
        allowed = set(TARGET_LABELS)
        for metric in g.metrics:
            allowed.update(known.get(metric, ()))
        for label in sorted(g.labels - allowed):
            problems.append(
                f"{g.clause} ({label}): no such label on {', '.join(sorted(g.metrics)) or '-'}"
            )
    return problems


# -- reading the deploy files ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str  # alert | record
    name: str
    expr: str
    line: int


def _scalar(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        value = json.loads(text)
        assert isinstance(value, str)
        return value
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    return re.sub(r"\s+#.*$", "", text)


def read_rules(path: Path = RULES) -> list[Rule]:
    """The alert and recording rules of a rules file, each with its expr (see module doc)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    rules: list[Rule] = []
    current: tuple[str, str, int] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        head = re.match(r"\s*- (alert|record):\s*(\S+)\s*$", line)
        if head:
            if current is not None:
                raise ValueError(f"{path}:{current[2]}: rule {current[1]} has no expr")
            current = (head.group(1), _scalar(head.group(2)), i + 1)
        key = re.match(r"(\s*)expr:\s*(.*)$", line)
        if key:
            if current is None:
                raise ValueError(f"{path}:{i + 1}: expr outside a rule")
            indent, value = len(key.group(1)), key.group(2).strip()
            if value in ("|", "|-", ">", ">-"):
                block = []
                while i + 1 < len(lines) and (
                    not lines[i + 1].strip()
                    or len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent
                ):
                    i += 1
                    block.append(lines[i].strip())
                value = "\n".join(block).strip()
            else:
                value = _scalar(value)
            rules.append(Rule(current[0], current[1], value, current[2]))
            current = None
        i += 1
    if current is not None:
        raise ValueError(f"{path}:{current[2]}: rule {current[1]} has no expr")
    return rules


def recorded_labels(rules: list[Rule]) -> dict[str, tuple[str, ...]]:
    """The contract plus `up` and the recording rules, each with the labels it may carry (a
    recording rule: every label of the metrics it reads, kept or not)."""
    known: dict[str, tuple[str, ...]] = {name: spec.labels for name, spec in METRICS.items()}
    known.update(PROMETHEUS_SERIES)
    for rule in rules:
        if rule.kind == "record":
            labels: set[str] = set()
            for metric in read_promql(rule.expr).metrics:
                labels.update(known.get(metric, ()))
            known[rule.name] = tuple(sorted(labels))
    return known


def load_dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def dashboard_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside (collapsed) rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs(dashboard: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel.get("title", "?"), target["expr"])
        for panel in dashboard_panels(dashboard)
        for target in panel.get("targets", [])
        if "expr" in target
    ]


# -- promtool ----------------------------------------------------------------------------------


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "promtool is not on PATH and CI=true: install it "
                "(Debian: apt-get install --no-install-recommends prometheus; .ci/run does)"
            )
        pytest.skip("promtool is not on PATH (Debian: apt-get install prometheus)")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_check_rules() -> None:
    result = run_promtool("check", "rules", str(RULES.relative_to(ROOT)))
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"promtool check rules failed:\n{output}"
    found = re.search(r"SUCCESS: (\d+) rules found", output)
    assert found, output
    # The line reader of this test saw every rule promtool saw.
    assert int(found.group(1)) == len(read_rules()), output


def test_promtool_test_rules() -> None:
    result = run_promtool("test", "rules", str(RULES_TEST.relative_to(ROOT)))
    assert result.returncode == 0, f"promtool test rules failed:\n{result.stdout}{result.stderr}"


def test_promtool_check_config() -> None:
    result = run_promtool("check", "config", str(SCRAPE_CONFIG.relative_to(ROOT)))
    assert result.returncode == 0, f"promtool check config failed:\n{result.stdout}{result.stderr}"


# -- the rules -------------------------------------------------------------------------------------

#: Alerts the deployment must have, by what they select.
REQUIRED_ALERTS = {
    "critical findings": 'severity="critical"',
    "paid after death": 'type="paid_after_death"',
    "staff account": 'type="staff_account"',
    "payout run late": f'type="{REMINDER_FINDING_TYPE}"',
    "no bank result": 'type="missing_result"',
    "overdue complaints": "aidledger_complaints_overdue",
    "verification overdue": 'type="verification_overdue"',
    "projection lag": "aidledger_projection_lag_events",
    "exporter down": 'up{job="aidledger"} == 0',
}


def test_rules_use_only_the_metrics_contract() -> None:
    rules = read_rules()
    known = recorded_labels(rules)
    problems = [
        f"{RULES.name}:{rule.line} {rule.name}: {problem}"
        for rule in rules
        for problem in contract_problems(rule.expr, known)
    ]
    assert not problems, "\n".join(problems)


def test_required_alerts_exist_and_route() -> None:
    rules = read_rules()
    alerts = [r for r in rules if r.kind == "alert"]
    for what, needle in REQUIRED_ALERTS.items():
        assert any(needle in r.expr for r in alerts), f"no alert for {what} ({needle})"
    text = RULES.read_text(encoding="utf-8")
    assert re.search(r"^\s*- name: aidledger\s*$", text, re.M), "rule group aidledger"
    # Each alert routes as page or ticket.
    severities = re.findall(r"^\s*severity: (\S+)\s*$", text, re.M)
    assert len(severities) == len(alerts), severities
    assert set(severities) <= {"page", "ticket"}, severities


def test_finding_types_in_rules_exist() -> None:
    """A typo in a type or severity matcher would silence an alert for good."""
    types = set(SEVERITY) | set(LEDGER_SEVERITY) | {REMINDER_FINDING_TYPE}
    severities = set(SEVERITY.values())
    text = RULES.read_text(encoding="utf-8") + json.dumps(load_dashboard())
    for value in re.findall(r'\btype(?:=|!=)\\?"([^"\\]+)', text):
        assert value in types, f"unknown finding type {value!r}"
    for value in re.findall(r'\btype(?:=~|!~)\\?"([^"\\]+)', text):
        for part in value.split("|"):
            assert part in types, f"unknown finding type {part!r}"
    for value in re.findall(r'\bseverity=\\?"([^"\\]+)', text):
        assert value in severities, f"unknown finding severity {value!r}"


def test_annotations_name_no_personal_data() -> None:
    """Annotations may template program, department, type, period, task, projection and
    instance, never a label that could carry a person."""
    allowed = {"type", "severity", "program", "department", "period", "state", "task"}
    allowed |= {"category"}  # a complaint's category (错保, 骗保…), never a person
    allowed |= {"projection", "instance"}
    used = set(re.findall(r"\$labels\.(\w+)", RULES.read_text(encoding="utf-8")))
    assert used <= allowed, used - allowed


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """rules_test.yml (read line by line) expects each alert both to fire and not to."""
    alerts = {r.name for r in read_rules() if r.kind == "alert"}
    firing: set[str] = set()
    quiet: set[str] = set()
    current = None
    for line in RULES_TEST.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"\s*alertname:\s*(\S+)", line):
            current = m.group(1)
        elif (m := re.match(r"\s*exp_alerts:\s*(\S*)", line)) and current is not None:
            (quiet if m.group(1) == "[]" else firing).add(current)
            current = None
    assert alerts - firing == set(), f"never fired in rules_test.yml: {alerts - firing}"
    assert alerts - quiet == set(), f"never shown quiet in rules_test.yml: {alerts - quiet}"


def test_no_contract_label_clashes_with_the_scrape_target_labels() -> None:
    """Prometheus gives every scraped series `job` and `instance`: an exporter label of either
    name would be renamed `exported_…` and silently match no rule."""
    for name, spec in METRICS.items():
        assert not set(spec.labels) & TARGET_LABELS, name
    text = SCRAPE_CONFIG.read_text(encoding="utf-8")
    assert re.search(r"^\s*- job_name: aidledger\s*$", text, re.M)
    assert re.search(r"targets: \[\"localhost:9108\"\]", text)
    assert re.search(r"^\s*- rules\.yml\s*$", text, re.M)


# -- the dashboard -----------------------------------------------------------------------------


def test_dashboard_panels() -> None:
    dashboard = load_dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    panels = list(dashboard_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    for panel in panels:
        assert panel.get("title"), f"panel {panel['id']} has no title"
        if panel["type"] == "row":  # a row holds panels, it queries nothing
            continue
        targets = panel.get("targets", [])
        assert targets, f"panel {panel['title']!r} has no target"
        for target in targets:
            assert target.get("expr"), f"panel {panel['title']!r}: a target without expr"
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_dashboard_datasource_and_variables() -> None:
    dashboard = load_dashboard()
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    known = recorded_labels(read_rules())
    for name in ("period", "program"):
        query = variables[name]["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert m, query
        assert m.group(2) == name
        assert not contract_problems(m.group(1), known), query
        (metric,) = read_promql(m.group(1)).metrics
        assert name in known[metric], query


def test_dashboard_uses_only_the_metrics_contract() -> None:
    dashboard = load_dashboard()
    known = recorded_labels(read_rules())
    exprs = dashboard_exprs(dashboard)
    assert exprs
    problems = [
        f"panel {title!r}: {problem}"
        for title, expr in exprs
        for problem in contract_problems(expr, known)
    ]
    assert not problems, "\n".join(problems)


def test_dashboard_covers_the_brief() -> None:
    exprs = [expr for _, expr in dashboard_exprs(load_dashboard())]
    joined = "\n".join(exprs)
    assert "by (type, severity)" in joined
    assert re.search(r'severity="critical".*\) / 100', joined)
    assert re.search(r"aidledger_payments_amount_fen\{[^}]*\}\)\) / 100", joined), "fen as yuan"
    assert "time() - max by (task) (aidledger_last_success_timestamp_seconds)" in joined
    assert 'rate(aidledger_job_runs_total{outcome="error"}' in joined
    for metric in (
        "aidledger_complaints_overdue",
        'type="verification_overdue"',
        "aidledger_projection_lag_events",
        "aidledger_scheduler_leader",
        "aidledger_payments{",
    ):
        assert metric in joined, metric


# -- the reader itself -----------------------------------------------------------------------------

KNOWN = recorded_labels([])


def test_reader_reports_an_unknown_metric() -> None:
    assert contract_problems("sum(aidledger_nope_total)", KNOWN) == [
        "metric aidledger_nope_total is not in the metrics contract"
    ]
    assert contract_problems('{__name__="aidledger_nope"}', KNOWN) == [
        "metric aidledger_nope is not in the metrics contract"
    ]
    # A recording rule is known only once rules.yml defines it.
    assert contract_problems("aidledger:findings_open:max", KNOWN)
    assert not contract_problems("aidledger:findings_open:max", recorded_labels(read_rules()))


def test_reader_reports_unknown_labels_and_functions() -> None:
    assert contract_problems('aidledger_findings_open{state="pending"}', KNOWN) == [
        "aidledger_findings_open has no label 'state'"
    ]
    assert contract_problems("sum by (projection) (aidledger_findings_open)", KNOWN) == [
        "by (projection): no such label on aidledger_findings_open"
    ]
    assert contract_problems("sum(aidledger_findings_open) by (outcome)", KNOWN) == [
        "by (outcome): no such label on aidledger_findings_open"
    ]
    assert contract_problems("rates(aidledger_job_runs_total[5m])", KNOWN) == [
        "unknown function rates()"
    ]


def test_reader_skips_functions_keywords_labels_and_variables() -> None:
    expr = """
        sum without (instance, outcome) (
          increase(aidledger_job_runs_total{outcome="error", job=~"$job"}[1h])
        ) > 0
        and on (job) # a comment naming no_metric
        (time() - max by (job) (aidledger_last_success_timestamp_seconds offset 5m) > 3 * 86400)
        or vector(1) * ${factor} + sum_over_time(aidledger_event_log_head[$__rate_interval:1m])
        unless ignoring (instance) group_left up{job="aidledger"} == bool Inf
    """
    usage = read_promql(expr)
    assert usage.metrics == {
        "aidledger_job_runs_total",
        "aidledger_last_success_timestamp_seconds",
        "aidledger_event_log_head",
        "up",
    }
    assert not usage.unknown_functions
    assert contract_problems(expr, KNOWN) == []
    by_clause = {g.clause: g for g in usage.groupings}
    assert by_clause["without"].metrics == {"aidledger_job_runs_total"}
    assert by_clause["by"].metrics == {"aidledger_last_success_timestamp_seconds"}


def test_reader_refuses_what_it_cannot_read() -> None:
    for bad in ("sum(aidledger_payments{period})", "aidledger_payments{", "5xyz", "a ; b"):
        with pytest.raises(ValueError):
            read_promql(bad)
