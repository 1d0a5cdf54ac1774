"""The CDK app, synthesized once per session: the table, least-privilege grants confined to
each function's namespace, the key secret, the layer on each function, outputs and SSM
parameters, the dashboard and alarms, cdk-nag's AwsSolutions checks and cfn-lint; a small app
with the construct's options (no monitoring, the bucket for large bodies), also synthesized
once; the construct in another app; and the plain CloudFormation template of the table."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Annotations, Match, Template
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode
from constructs import Construct

from tests.deploy.cdk_support import (
    BY_NAME_NAMESPACE,
    IMPORTED_BUCKET,
    IMPORTED_SECRET,
    OPTIONS_STACK,
    ROOT,
    Synthesis,
    cdk_modules,
    layer_dir,
    monitoring_module,
    options_synthesis,
    synthesis,
)

construct, stacks = cdk_modules()
monitoring = monitoring_module()

EXAMPLE_TEMPLATE = ROOT / "examples" / "http_cache_table.yaml"
# CDK writes DependsOn on a function's role although its GetAtt already orders them.
ACCEPTED_CFN_LINT_WARNINGS = {"W3005"}
CFN_LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]
BASIC_EXECUTION_ROLE = (
    "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
)
IMPORTED_TABLE_ARN = (
    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/http_cache"
)
KEY_SECRET_PARAMETER = "/lambda-http-cache/key-secret-arn"
SECRET_ARN_PREFIX = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
# What a key, an object name, looks like after the namespace (a SHA-256 in hex).
DIGEST = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return synthesis(tmp_path_factory)


@pytest.fixture(scope="module")
def main(synth: Synthesis) -> dict[str, Any]:
    return synth.templates[stacks.MAIN_STACK]


@pytest.fixture(scope="module")
def consumer(synth: Synthesis) -> dict[str, Any]:
    return synth.templates[stacks.CONSUMER_STACK]


@pytest.fixture(scope="module")
def options_synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return options_synthesis(tmp_path_factory)


@pytest.fixture(scope="module")
def options(options_synth: Synthesis) -> dict[str, Any]:
    return options_synth.templates[OPTIONS_STACK]


# Helpers ------------------------------------------------------------------------------------------


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template.get("Resources", {}).items() if v["Type"] == kind}


def only(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    (item,) = of_type(template, kind).items()
    return item


def render(value: Any) -> str:
    """An intrinsic value as a string: ``${Ref}``, ``${Id.Attr}``, joins joined."""
    if isinstance(value, str):
        return value
    (function, argument), *rest = value.items()
    assert not rest, value
    if function == "Ref":
        return f"${{{argument}}}"
    if function == "Fn::GetAtt":
        return "${{{}.{}}}".format(*argument)
    if function == "Fn::Join":
        separator, parts = argument
        return str(separator).join(render(p) for p in parts)
    raise AssertionError(f"unexpected intrinsic {value}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    """Every statement granted to a role: its inline policies and each AWS::IAM::Policy."""
    role = template["Resources"][role_id]["Properties"]
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    for policy in of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"].get("Roles", []):
            documents.append(policy["Properties"]["PolicyDocument"])
    return [s for d in documents for s in d["Statement"]]


def functions(synth: Synthesis) -> list[tuple[str, str, dict[str, Any]]]:
    """(stack, logical id, properties) of every function in the app."""
    return [
        (stack, logical_id, resource["Properties"])
        for stack, template in synth.templates.items()
        for logical_id, resource in of_type(template, "AWS::Lambda::Function").items()
    ]


def newest_bytecode_runtime(layers: Path) -> str:
    """The runtime of the newest Python the layer in ``layers`` carries bytecode for: which
    versions it has depends on the interpreters the build found."""
    manifest = json.loads((layers / "layer-manifest.json").read_text(encoding="utf-8"))
    (entry,) = manifest["layers"]
    newest = max(entry["bytecode"], key=lambda v: tuple(int(p) for p in v.split(".")))
    return f"python{newest}"


def deploying_pages() -> str:
    """The documentation's deploying pages (docs/deploying/), as one text."""
    pages = sorted((ROOT / "docs" / "deploying").glob("*.md"))
    assert pages
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


def dashboard_page() -> str:
    """The documentation's page on the dashboard and alarms."""
    return (ROOT / "docs" / "operating" / "dashboard.md").read_text(encoding="utf-8")


def dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's JSON, its references rendered (``${Table}``, ``${AWS::Region}``)."""
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    body: dict[str, Any] = json.loads(render(dashboard["Properties"]["DashboardBody"]))
    return body


def dashboard_metrics(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric and expression of every widget, as dicts: ``namespace``, ``name``,
    ``dimensions``, ``stat``, ``expression``, ``widget`` (its title)."""
    found = []
    for widget in body["widgets"]:
        properties = widget["properties"]
        for row in properties.get("metrics", []):
            *fields, options = row if isinstance(row[-1], dict) else (*row, {})
            entry = {"widget": properties.get("title"), **options}
            if fields:
                namespace, name, *dimensions = fields
                entry.update(
                    namespace=namespace,
                    name=name,
                    dimensions=dict(zip(dimensions[::2], dimensions[1::2], strict=True)),
                )
            found.append(entry)
    return found


def alarm_metrics(alarm: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """An alarm's math expression and its metrics by id."""
    queries = alarm["Properties"]["Metrics"]
    (expression,) = [q["Expression"] for q in queries if q.get("ReturnData", True)]
    metrics = {q["Id"]: q["MetricStat"] for q in queries if "MetricStat" in q}
    return expression, metrics


def statements_with(template: dict[str, Any], prefix: str, role_id: str) -> list[dict[str, Any]]:
    return [
        s
        for s in role_statements(template, role_id)
        if any(a.startswith(prefix) for a in as_list(s["Action"]))
    ]


def function_named(template: dict[str, Any], name: str) -> dict[str, Any]:
    (properties,) = [
        f["Properties"]
        for logical_id, f in of_type(template, "AWS::Lambda::Function").items()
        if logical_id.startswith(name)
    ]
    return properties


def leading_keys(namespace: str) -> dict[str, Any]:
    """The condition confining a grant to the items of one namespace."""
    return {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{namespace}:*"]}}


def secret_reference(secret_arn: str) -> str:
    """A CloudFormation dynamic reference to a secret's value, as CDK writes it (rendered)."""
    return f"{{{{resolve:secretsmanager:{secret_arn}:SecretString:::}}}}"


def strings(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string in a template, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, (*path, index))


# A policy evaluator -------------------------------------------------------------------------------
#
# moto does not evaluate IAM conditions, so the policy document is checked. (moto 5's
# access control, with INITIAL_NO_AUTH_ACTION_COUNT set, ignores every condition operator but
# StringEquals and passes no request values such as dynamodb:LeadingKeys; and it checks
# DynamoDB calls against the resource "*", so a grant on a table's ARN denies everything.)
# Below, IAM's evaluation of identity-based statements, restricted to what the cache's grants
# use: anything else is refused, so a check cannot pass on something the evaluator skipped.

STATEMENT_FIELDS = {"Sid", "Effect", "Action", "Resource", "Condition"}


class PolicyNotUnderstood(Exception):
    pass


@dataclass(frozen=True)
class Request:
    """One API call: the action, the resource's ARN (rendered as :func:`render` does), and for
    DynamoDB the partition keys it touches (the context key ``dynamodb:LeadingKeys``)."""

    action: str
    resource: str
    leading_keys: tuple[str, ...] = ()


def like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match (StringLike, Action, Resource): ``*`` any run, ``?`` one character."""
    regex = "".join({"*": ".*", "?": "."}.get(c, re.escape(c)) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def strings_in(statement: dict[str, Any], field: str) -> list[str]:
    try:
        values = [render(v) for v in as_list(statement[field])]
    except (AssertionError, KeyError, TypeError, ValueError) as error:
        raise PolicyNotUnderstood(f"{field}: {statement.get(field)!r}") from error
    if not values or not all(isinstance(v, str) and v for v in values):
        raise PolicyNotUnderstood(f"{field}: {statement[field]!r}")
    return values


def condition_holds(condition: Any, request: Request) -> bool:
    if not isinstance(condition, dict) or not condition:
        raise PolicyNotUnderstood(f"Condition: {condition!r}")
    holds = True  # every operator and key is read, even after one fails
    for operator, tests in condition.items():
        if operator != "ForAllValues:StringLike" or not isinstance(tests, dict) or not tests:
            raise PolicyNotUnderstood(f"condition {operator}: {tests!r}")
        for key, patterns in tests.items():
            if key != "dynamodb:LeadingKeys":
                raise PolicyNotUnderstood(f"condition key {key}")
            allowed = [p for p in as_list(patterns) if isinstance(p, str)]
            if not allowed or len(allowed) != len(as_list(patterns)):
                raise PolicyNotUnderstood(f"condition values {patterns!r}")
            # ForAllValues: every value of the request matches one pattern (true for none).
            holds = holds and all(any(like(p, v) for p in allowed) for v in request.leading_keys)
    return holds


def is_allowed(statements: list[dict[str, Any]], request: Request) -> bool:
    """An explicit Deny wins; else an Allow whose Action, Resource and Condition all match the
    request allows it; else it is denied (by default)."""
    allowed = False
    for statement in statements:
        if not statement or set(statement) - STATEMENT_FIELDS:
            raise PolicyNotUnderstood(f"statement fields {sorted(statement)}")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyNotUnderstood(f"Effect: {effect!r}")
        actions = strings_in(statement, "Action")
        resources = strings_in(statement, "Resource")
        condition = "Condition" not in statement or condition_holds(statement["Condition"], request)
        matches = (
            any(like(a, request.action, ignore_case=True) for a in actions)
            and any(like(r, request.resource) for r in resources)
            and condition
        )
        if matches and effect == "Deny":
            return False
        allowed = allowed or matches
    return allowed


# The table ----------------------------------------------------------------------------------------


def test_table_has_the_cache_schema_and_is_kept(main: dict[str, Any]) -> None:
    template = Template.from_json(main)
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "TableName": "http_cache",
                "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "key", "AttributeType": "S"}],
                "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "DeletionProtectionEnabled": True,
            },
        },
    )
    _, table = only(main, "AWS::DynamoDB::Table")
    # Only the partition key: no sort key, no index (so no index ARN to grant).
    assert len(table["Properties"]["KeySchema"]) == 1
    assert "GlobalSecondaryIndexes" not in table["Properties"]
    assert "LocalSecondaryIndexes" not in table["Properties"]
    assert "ProvisionedThroughput" not in table["Properties"]


def test_consumer_stack_owns_no_table_or_layer(consumer: dict[str, Any]) -> None:
    assert of_type(consumer, "AWS::DynamoDB::Table") == {}
    assert of_type(consumer, "AWS::Lambda::LayerVersion") == {}
    # Nothing is taken from the other stack's constructs (no cross-stack export).
    assert "Fn::ImportValue" not in json.dumps(consumer)


# Least privilege ----------------------------------------------------------------------------------


def test_the_policy_evaluator_is_strict() -> None:
    grant: dict[str, Any] = {
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
        "Resource": "arn:aws:dynamodb:eu-west-1:123456789012:table/http_cache",
        "Condition": leading_keys("a"),
    }
    table = grant["Resource"]
    own = Request("dynamodb:GetItem", table, (f"a:{DIGEST}",))
    other = Request("dynamodb:GetItem", table, (f"b:{DIGEST}",))
    assert is_allowed([grant], own)
    assert is_allowed([grant], Request("DynamoDB:putitem", table, (f"a:{DIGEST}",)))
    assert not is_allowed([grant], other)
    assert not is_allowed([grant], Request("dynamodb:GetItem", table, ("ab:1",)))
    assert not is_allowed([grant], Request("dynamodb:GetItem", table, ("a:1", "b:1")))
    assert not is_allowed([grant], Request("dynamodb:DeleteItem", table, ("a:1",)))
    assert not is_allowed([grant], Request("dynamodb:GetItem", f"{table}2", ("a:1",)))
    assert not is_allowed([], own)  # denied by default
    assert not is_allowed([grant, {**grant, "Effect": "Deny"}], own)  # a Deny wins
    # Without the condition, the other namespace is allowed: the checks below can tell.
    assert is_allowed([{k: v for k, v in grant.items() if k != "Condition"}], other)
    # Whatever it does not know, it refuses.
    for change in (
        {"NotAction": "s3:*"},
        {"NotResource": "*"},
        {"Principal": "*"},
        {"Effect": "allow"},
        {"Action": []},
        {"Resource": {"Fn::ImportValue": "x"}},
        {"Condition": {}},
        {"Condition": {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["a:*"]}}},
        {"Condition": {"StringLike": {"dynamodb:LeadingKeys": "a:*"}}},
        {"Condition": {"ForAllValues:StringLike": {"dynamodb:Attributes": ["a"]}}},
        {"Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [{"Ref": "X"}]}}},
    ):
        with pytest.raises(PolicyNotUnderstood):
            is_allowed([{**grant, **change}], own)
        # ... even in a statement that does not concern the request.
        with pytest.raises(PolicyNotUnderstood):
            is_allowed([{**grant, **change}], Request("s3:GetObject", "arn:aws:s3:::b/k"))


def test_the_documented_actions_are_get_and_put_item_only() -> None:
    assert set(construct.CACHE_TABLE_ACTIONS) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert set(construct.LARGE_OBJECT_ACTIONS) == {"s3:GetObject", "s3:PutObject"}
    section = deploying_pages()
    for action in (*construct.CACHE_TABLE_ACTIONS, *construct.LARGE_OBJECT_ACTIONS):
        assert action in section


def test_every_function_role_gets_exactly_the_cache_actions_on_its_namespace(
    synth: Synthesis,
) -> None:
    table_id, _ = only(synth.templates[stacks.MAIN_STACK], "AWS::DynamoDB::Table")
    table_arn = {
        stacks.MAIN_STACK: f"${{{table_id}.Arn}}",
        stacks.CONSUMER_STACK: IMPORTED_TABLE_ARN,
    }
    found = functions(synth)
    assert len(found) == 4
    namespaces = {}
    for stack, logical_id, properties in found:
        template = synth.templates[stack]
        namespace = properties["Environment"]["Variables"][construct.NAMESPACE_ENV]
        assert construct.NAMESPACE_PATTERN.fullmatch(namespace), (logical_id, namespace)
        namespaces[logical_id] = namespace
        role_id = properties["Role"]["Fn::GetAtt"][0]
        statements = role_statements(template, role_id)
        dynamodb = [
            s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
        ]
        assert len(dynamodb) == 1, (logical_id, statements)
        (statement,) = dynamodb
        assert set(statement) == {"Effect", "Action", "Resource", "Condition"}
        assert statement["Effect"] == "Allow"
        assert sorted(as_list(statement["Action"])) == sorted(construct.CACHE_TABLE_ACTIONS)
        assert [render(r) for r in as_list(statement["Resource"])] == [table_arn[stack]]
        # Only the items whose key starts with the function's own namespace.
        assert statement["Condition"] == leading_keys(namespace), logical_id
        # Nothing else in the role's own policies; logs come from the basic execution role.
        assert statements == dynamodb, logical_id
        managed = template["Resources"][role_id]["Properties"].get("ManagedPolicyArns", [])
        assert [render(m) for m in managed] == [BASIC_EXECUTION_ROLE]
    # The x86_64 and arm64 functions share theirs; the SnapStart and consumer functions have
    # their own, derived from their construct paths.
    by_name = {k[:-8]: v for k, v in namespaces.items()}  # without the logical id's hash
    assert by_name["CatalogX86"] == by_name["CatalogArm64"] == stacks.CATALOG_NAMESPACE
    assert by_name["CatalogSnapStart"].startswith(f"{stacks.MAIN_STACK}.CatalogSnapStart.")
    assert by_name["CatalogByArn"].startswith(f"{stacks.CONSUMER_STACK}.CatalogByArn.")
    assert len(set(namespaces.values())) == 3


def test_no_policy_anywhere_grants_more_dynamodb(synth: Synthesis) -> None:
    for template in synth.templates.values():
        text = json.dumps(template)
        # Actions, not the condition key ("dynamodb:LeadingKeys": [...]).
        actions = set(re.findall(r'"(dynamodb:[A-Za-z*]+)"(?!\s*:)', text))
        assert actions == set(construct.CACHE_TABLE_ACTIONS) or not actions
        assert "NotAction" not in text and "NotResource" not in text


def test_a_function_reads_and_writes_its_own_namespace_and_no_other(synth: Synthesis) -> None:
    """Evaluated on the synthesized policies (moto does not evaluate IAM conditions): each
    function against the keys of every function's namespace, in both stacks."""
    table_id, _ = only(synth.templates[stacks.MAIN_STACK], "AWS::DynamoDB::Table")
    table_arn = {
        stacks.MAIN_STACK: f"${{{table_id}.Arn}}",
        stacks.CONSUMER_STACK: IMPORTED_TABLE_ARN,
    }
    grants = {}
    for stack, logical_id, properties in functions(synth):
        role_id = properties["Role"]["Fn::GetAtt"][0]
        namespace = properties["Environment"]["Variables"][construct.NAMESPACE_ENV]
        grants[logical_id] = (
            namespace,
            table_arn[stack],
            role_statements(synth.templates[stack], role_id),
        )
    shared = 0
    for name, (namespace, table, statements) in grants.items():
        own = f"{namespace}:{DIGEST}"
        for action in construct.CACHE_TABLE_ACTIONS:
            assert is_allowed(statements, Request(action, table, (own,))), (name, action)
            # A key that only begins like the namespace is another namespace's.
            assert not is_allowed(statements, Request(action, table, (f"{namespace}x:{DIGEST}",)))
            # The table's other items, and a batch mixing them with its own: denied.
            assert not is_allowed(statements, Request(action, table, (f"other:{DIGEST}",)))
            assert not is_allowed(statements, Request(action, table, (own, f"other:{DIGEST}")))
            for other_name, (other_namespace, _, _) in grants.items():
                key = f"{other_namespace}:{DIGEST}"
                expected = other_namespace == namespace
                assert is_allowed(statements, Request(action, table, (key,))) == expected, (
                    name,
                    other_name,
                    action,
                )
                shared += expected and other_name != name
            # Another table: denied.
            assert not is_allowed(statements, Request(action, f"{table}_other", (own,)))
        # Other calls, even on its own items: denied.
        for action in (
            "dynamodb:DeleteItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:Query",
            "dynamodb:Scan",
            "dynamodb:DescribeTable",
        ):
            assert not is_allowed(statements, Request(action, table, (own,))), (name, action)
    # CatalogX86 and CatalogArm64 read and write each other's entries (both ways, two actions).
    assert shared == 4


# The table: one of yours, or the construct's shaped by table_props --------------------------------


def cache_in(stack: Stack, factory: pytest.TempPathFactory, **options: Any) -> Any:
    """An HttpCache on this session's layer, publishing no SSM parameter unless told."""
    options = {"parameter_prefix": None, **options}
    return construct.HttpCache(
        stack, "Cache", layer_dir=layer_dir(factory), build_layer=False, **options
    )


def table_grants(
    template: dict[str, Any], table_arn: str
) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Each function's namespace and statements, after checking that its one statement is the
    cache's grant on ``table_arn`` for the keys of that namespace."""
    grants = {}
    for logical_id, function in of_type(template, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        namespace = properties["Environment"]["Variables"][construct.NAMESPACE_ENV]
        role_id = properties["Role"]["Fn::GetAtt"][0]
        statements = role_statements(template, role_id)
        (statement,) = statements
        assert set(statement) == {"Effect", "Action", "Resource", "Condition"}
        assert statement["Effect"] == "Allow"
        assert sorted(as_list(statement["Action"])) == sorted(construct.CACHE_TABLE_ACTIONS)
        assert [render(r) for r in as_list(statement["Resource"])] == [table_arn]
        assert statement["Condition"] == leading_keys(namespace)
        grants[logical_id] = (namespace, statements)
    return grants


@pytest.mark.parametrize("kind", ["imported", "in-app"])
def test_an_existing_table_gets_the_same_grants_and_no_new_table(
    kind: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack = Stack(App(), "UserStack")
    if kind == "imported":
        existing: dynamodb.ITable = dynamodb.Table.from_table_name(stack, "Mine", "team_cache")
        table_arn = IMPORTED_TABLE_ARN.replace("http_cache", "team_cache")
        table_name: Any = "team_cache"
    else:
        existing = dynamodb.Table(
            stack,
            "Mine",
            table_name="team_cache",
            partition_key=dynamodb.Attribute(name="key", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="ttl",
        )
    cache = cache_in(stack, tmp_path_factory, existing_table=existing)
    assert cache.table is existing
    assert cache.owned_table is None
    cache.attach(inline_function(stack, "Own"))
    cache.attach(inline_function(stack, "SharedA"), namespace="shared")
    cache.attach(inline_function(stack, "SharedB"), namespace="shared")
    template = Template.from_stack(stack).to_json()

    tables = of_type(template, "AWS::DynamoDB::Table")
    if kind == "imported":
        assert tables == {}
    else:
        ((table_id, _),) = tables.items()  # the user's own, no other
        assert table_id.startswith("Mine")
        table_arn, table_name = f"${{{table_id}.Arn}}", {"Ref": table_id}
    grants = table_grants(template, table_arn)
    assert len(grants) == 3
    for logical_id, function in of_type(template, "AWS::Lambda::Function").items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables[construct.TABLE_ENV] == table_name, logical_id
        assert variables[construct.SERVICE_ENV] == table_name, logical_id
    # Evaluated: each function reads and writes its own namespace's keys, no other's, and
    # makes no other call.
    for name, (namespace, statements) in grants.items():
        for action in construct.CACHE_TABLE_ACTIONS:
            for other_name, (other_namespace, _) in grants.items():
                request = Request(action, table_arn, (f"{other_namespace}:{DIGEST}",))
                assert is_allowed(statements, request) == (other_namespace == namespace), (
                    name,
                    other_name,
                )
        own = (f"{namespace}:{DIGEST}",)
        for action in ("dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:Query"):
            assert not is_allowed(statements, Request(action, table_arn, own))
    assert len({namespace for namespace, _ in grants.values()}) == 2
    # The dashboard and alarms watch that table, and the service named after it.
    metrics = dashboard_metrics(dashboard_body(template))
    for namespace, dimension in (("AWS/DynamoDB", "TableName"), ("LambdaHttpCache", "service")):
        found = {
            json.dumps(m["dimensions"][dimension])
            for m in metrics
            if m.get("namespace") == namespace
        }
        assert found == {json.dumps(render(table_name))}, namespace


def test_table_props_are_merged_over_the_defaults(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    shaped: dict[str, Any] = {
        "dict": {
            "table_name": "props_cache",
            "table_class": dynamodb.TableClass.STANDARD_INFREQUENT_ACCESS,
            "contributor_insights_specification": dynamodb.ContributorInsightsSpecification(
                enabled=True
            ),
            "encryption": None,  # None keeps the default
        },
        "TableProps": dynamodb.TableProps(
            partition_key=dynamodb.Attribute(name="key", type=dynamodb.AttributeType.STRING),
            table_name="typed_cache",
            billing_mode=dynamodb.BillingMode.PROVISIONED,
            read_capacity=5,
            write_capacity=2,
        ),
    }
    tables = {}
    for kind, props in shaped.items():
        stack = Stack(App(), "UserStack")
        cache = cache_in(stack, tmp_path_factory, table_props=props, monitoring=False)
        assert cache.owned_table is cache.table
        cache.attach(inline_function(stack, "Fn"))
        template = Template.from_stack(stack).to_json()
        table_id, table = only(template, "AWS::DynamoDB::Table")
        tables[kind] = table
        # The name given is the service the functions report under.
        assert cache.metrics_service == table["Properties"]["TableName"]
        grants = table_grants(template, f"${{{table_id}.Arn}}")
        ((_, function),) = of_type(template, "AWS::Lambda::Function").items()
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables[construct.TABLE_ENV] == {"Ref": table_id}
        assert variables[construct.SERVICE_ENV] == cache.metrics_service
        assert len(grants) == 1
    # What was given...
    properties = tables["dict"]["Properties"]
    assert properties["TableName"] == "props_cache"
    assert properties["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert properties["ContributorInsightsSpecification"] == {"Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    properties = tables["TableProps"]["Properties"]
    assert properties["TableName"] == "typed_cache"
    assert properties["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}
    assert "BillingMode" not in properties or properties["BillingMode"] == "PROVISIONED"
    # ...and the defaults that were not.
    for table in tables.values():
        properties = table["Properties"]
        assert properties["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
        assert properties["AttributeDefinitions"] == [
            {"AttributeName": "key", "AttributeType": "S"}
        ]
        assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
        assert properties["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["SSESpecification"] == {"SSEEnabled": True}
        assert properties["DeletionProtectionEnabled"] is True
        assert table["DeletionPolicy"] == "Retain"


def test_table_options_are_exclusive_and_keep_the_librarys_schema(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = Stack(App(), "Checks")
    existing = dynamodb.Table.from_table_name(stack, "Existing", "team_cache")
    string = dynamodb.AttributeType.STRING
    refused: list[tuple[dict[str, Any], str]] = [
        (
            {"existing_table": existing, "table_props": {"table_name": "x"}},
            "existing_table and table_props given",
        ),
        ({"existing_table": existing, "table_props": {}}, "existing_table and table_props given"),
        (
            {"table_props": {"partition_key": dynamodb.Attribute(name="pk", type=string)}},
            r"partition key must be 'key' \(String\).*not 'pk' \(STRING\)",
        ),
        (
            {
                "table_props": {
                    "partition_key": dynamodb.Attribute(
                        name="key", type=dynamodb.AttributeType.BINARY
                    )
                }
            },
            r"not 'key' \(BINARY\)",
        ),
        (
            {"table_props": {"sort_key": dynamodb.Attribute(name="sk", type=string)}},
            r"table_props: no sort key \('sk'\)",
        ),
        (
            {"table_props": {"time_to_live_attribute": "expires"}},
            "time_to_live_attribute must be 'ttl'.*not 'expires'",
        ),
    ]
    for index, (options, message) in enumerate(refused):
        with pytest.raises(ValueError, match=message):
            construct.HttpCache(stack, f"Cache{index}", build_layer=False, **options)
    # A table of the app is checked too.
    for name, keys in {
        "OtherKey": {"partition_key": dynamodb.Attribute(name="pk", type=string)},
        "SortKey": {
            "partition_key": dynamodb.Attribute(name="key", type=string),
            "sort_key": dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.NUMBER),
        },
    }.items():
        table = dynamodb.Table(stack, name, **keys)
        with pytest.raises(ValueError, match=r"existing_table: (the partition key|no sort key)"):
            construct.HttpCache(stack, f"Cache{name}", build_layer=False, existing_table=table)
    # Refused before anything was made: the only resources are the two tables above.
    template = Template.from_stack(stack).to_json()
    assert sorted(r["Type"] for r in template["Resources"].values()) == ["AWS::DynamoDB::Table"] * 2


# Namespaces ---------------------------------------------------------------------------------------


def inline_function(scope: Construct, construct_id: str) -> lambda_.Function:
    return lambda_.Function(
        scope,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("x = 1\n"),
    )


def test_namespaces_are_checked(tmp_path_factory: pytest.TempPathFactory) -> None:
    stack = Stack(App(), "Checks")
    cache = cache_in(stack, tmp_path_factory, monitoring=False)
    table = dynamodb.Table.from_table_name(stack, "Table", "http_cache")
    bucket = s3.Bucket.from_bucket_name(stack, "Bucket", "bucket-name")
    function = inline_function(stack, "Fn")
    for bad in ("", "a:b", "a/b", "a*", "a?", "a b", "caf\u00e9", "x" * 65):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            cache.attach(function, namespace=bad)
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            construct.grant_cache_access(function, table, namespace=bad)
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            construct.grant_large_object_access(function, bucket, namespace=bad)
    assert construct.namespace_of(function) is None

    longest = "x" * 64
    construct.grant_cache_access(function, table, namespace=longest)
    # A function has one namespace: later grants default to it, and another is refused.
    construct.grant_large_object_access(function, bucket)
    assert construct.namespace_of(function) == longest
    with pytest.raises(ValueError, match="already has the namespace"):
        cache.attach(function, namespace="other")
    # The failed calls granted and set nothing: only the two grants in that namespace.
    template = Template.from_stack(stack).to_json()
    properties = function_named(template, "Fn")
    assert properties["Environment"]["Variables"][construct.NAMESPACE_ENV] == longest
    assert "Layers" not in properties
    role_id = properties["Role"]["Fn::GetAtt"][0]
    (dynamodb_statement,) = statements_with(template, "dynamodb:", role_id)
    (s3_statement,) = statements_with(template, "s3:", role_id)
    assert role_statements(template, role_id) == [dynamodb_statement, s3_statement]
    assert dynamodb_statement["Condition"] == leading_keys(longest)
    assert render(s3_statement["Resource"]).endswith(
        f":s3:::bucket-name/lambda-http-cache/{longest}/*"
    )


def test_default_namespaces_are_stable_unique_and_valid() -> None:
    from lambda_http_cache.config import CacheConfig, ConfigError

    def namespaces() -> list[str]:
        stack = Stack(App(), "Stack")
        deep = Construct(stack, "Deep" * 20)
        ids = ["Fn", "Fn_2", "fn.3", "Fn-4", "Fn 5 (\u00e9)", "B" * 100]
        found = [construct.default_namespace(inline_function(stack, i)) for i in ids]
        found.append(construct.default_namespace(inline_function(deep, "C" * 100)))
        return found

    first = namespaces()
    assert namespaces() == first  # derived from the construct path only
    assert len(set(first)) == len(first)
    assert first[0].startswith("Stack.Fn.")
    for namespace in first:
        assert construct.NAMESPACE_PATTERN.fullmatch(namespace), namespace
        assert len(namespace) <= 64
        # The library accepts them, and a generated key secret.
        CacheConfig(namespace=namespace, key_secret="aZ0" * (construct.KEY_SECRET_LENGTH // 3))
    # ... and refuses what the construct refuses.
    for bad in ("a:b", "x" * 65):
        with pytest.raises(ConfigError):
            CacheConfig(namespace=bad)
        with pytest.raises(ValueError):
            construct.validate_namespace(bad)


# Functions ----------------------------------------------------------------------------------------


def test_functions_get_the_table_name_the_metrics_service_and_the_api_url(
    synth: Synthesis,
) -> None:
    table_id, _ = only(synth.templates[stacks.MAIN_STACK], "AWS::DynamoDB::Table")
    expected_table = {stacks.MAIN_STACK: {"Ref": table_id}, stacks.CONSUMER_STACK: "http_cache"}
    for stack, _, properties in functions(synth):
        variables = dict(properties["Environment"]["Variables"])
        # Checked on their own below.
        assert construct.NAMESPACE_PATTERN.fullmatch(variables.pop(construct.NAMESPACE_ENV))
        assert "{{resolve:secretsmanager:" in render(variables.pop(construct.KEY_SECRET_ENV))
        # No bucket by default: no HTTP_CACHE_S3_BUCKET.
        assert variables == {
            "CATALOG_API_URL": stacks.CATALOG_API_URL,
            construct.TABLE_ENV: expected_table[stack],
            construct.SERVICE_ENV: "http_cache",
        }
        assert properties["Handler"] == "handler.handler"
        # the newest runtime the layer carries bytecode for
        assert properties["Runtime"] == newest_bytecode_runtime(synth.layer_dir)


def test_each_function_has_the_layer_for_its_architecture(main: dict[str, Any]) -> None:
    layers = of_type(main, "AWS::Lambda::LayerVersion")
    architectures = set()
    for logical_id, function in of_type(main, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        (architecture,) = properties["Architectures"]
        architectures.add(architecture)
        (reference,) = properties["Layers"]
        layer = layers[reference["Ref"]]["Properties"]
        assert architecture in layer["CompatibleArchitectures"], logical_id
        assert properties["Runtime"] in layer["CompatibleRuntimes"], logical_id
    assert architectures == {"x86_64", "arm64"}


def test_one_function_uses_snap_start_behind_a_published_version(main: dict[str, Any]) -> None:
    snap = {
        k: p
        for k, p in of_type(main, "AWS::Lambda::Function").items()
        if p["Properties"].get("SnapStart")
    }
    ((function_id, function),) = snap.items()
    assert function["Properties"]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    (version_id,) = [
        k
        for k, v in of_type(main, "AWS::Lambda::Version").items()
        if v["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    Template.from_json(main).has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]}},
    )


def test_the_layer_serves_both_architectures_and_every_runtime(synth: Synthesis) -> None:
    import lambda_http_cache

    main = synth.templates[stacks.MAIN_STACK]
    layer_id, layer = only(main, "AWS::Lambda::LayerVersion")
    properties = layer["Properties"]
    assert properties["CompatibleArchitectures"] == ["x86_64", "arm64"]
    assert properties["CompatibleRuntimes"] == [
        "python3.11",
        "python3.12",
        "python3.13",
        "python3.14",
    ]
    assert f"lambda_http_cache {lambda_http_cache.__version__}" in properties["Description"]
    assert properties["LayerName"] == "lambda-http-cache"
    assert properties["LicenseInfo"] == "Apache-2.0"
    assert layer["DeletionPolicy"] == "Retain"
    # The asset is the zip `make layer` built, byte for byte: synthesis repackages nothing.
    (built,) = synth.layer_dir.glob("*.zip")
    asset = synth.outdir / f"asset.{properties['Content']['S3Key']}"
    assert asset.read_bytes() == built.read_bytes()
    assert layer_id.startswith("HttpCacheLayer")


def test_consumer_attaches_the_layer_by_the_arn_in_ssm(consumer: dict[str, Any]) -> None:
    _, function = only(consumer, "AWS::Lambda::Function")
    (reference,) = function["Properties"]["Layers"]
    parameter = consumer["Parameters"][reference["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == "/lambda-http-cache/layer-arn"


def test_consumer_takes_the_layer_and_secret_arns_from_context() -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:layer:lambda-http-cache:7"
    secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:HttpCacheKey-a1B2c3"
    app = App(
        context={
            stacks.LAYER_ARN_CONTEXT: arn,
            stacks.KEY_SECRET_ARN_CONTEXT: secret_arn,
            stacks.NAG_CONTEXT: False,
        }
    )
    stack = stacks.HttpCacheConsumerStack(app, "Consumer")
    template = Template.from_stack(stack).to_json()
    _, function = only(template, "AWS::Lambda::Function")
    assert function["Properties"]["Layers"] == [arn]
    variables = function["Properties"]["Environment"]["Variables"]
    assert construct.TABLE_ENV in variables
    assert render(variables[construct.KEY_SECRET_ENV]) == secret_reference(secret_arn)
    assert "Parameters" not in template or all(
        p["Default"].startswith("/cdk-bootstrap/") for p in template["Parameters"].values()
    )


# Outputs and parameters ---------------------------------------------------------------------------


def test_outputs_and_ssm_parameters(main: dict[str, Any]) -> None:
    table_id, _ = only(main, "AWS::DynamoDB::Table")
    layer_id, _ = only(main, "AWS::Lambda::LayerVersion")
    secret_id, _ = only(main, "AWS::SecretsManager::Secret")
    outputs = {k: render(v["Value"]) for k, v in main["Outputs"].items()}
    parameters = {
        p["Properties"]["Name"]: (k, p["Properties"])
        for k, p in of_type(main, "AWS::SSM::Parameter").items()
    }
    assert set(parameters) == {"/lambda-http-cache/layer-arn", KEY_SECRET_PARAMETER}
    assert outputs["TableName"] == f"${{{table_id}}}"
    assert outputs["TableArn"] == f"${{{table_id}.Arn}}"
    assert outputs["LayerVersionArn"] == f"${{{layer_id}}}"
    parameter_id, parameter = parameters["/lambda-http-cache/layer-arn"]
    assert outputs["LayerArnParameter"] == f"${{{parameter_id}}}"
    assert parameter["Type"] == "String"
    assert parameter["Value"] == {"Ref": layer_id}
    # The key secret's ARN (a Ref to the secret is its ARN), never its value.
    parameter_id, parameter = parameters[KEY_SECRET_PARAMETER]
    assert outputs["KeySecretArn"] == f"${{{secret_id}}}"
    assert outputs["KeySecretArnParameter"] == f"${{{parameter_id}}}"
    assert parameter["Type"] == "String"
    assert parameter["Value"] == {"Ref": secret_id}


# The key secret -----------------------------------------------------------------------------------


def test_each_deployment_generates_its_own_key_secret(synth: Synthesis) -> None:
    main = synth.templates[stacks.MAIN_STACK]
    _, secret = only(main, "AWS::SecretsManager::Secret")
    properties = secret["Properties"]
    # Secrets Manager generates the value when the stack is created: 64 letters and digits,
    # nothing taken from the template or from a name.
    assert properties["GenerateSecretString"] == {
        "PasswordLength": 64,
        "ExcludePunctuation": True,
        "IncludeSpace": False,
    }
    assert set(properties) == {"Description", "GenerateSecretString"}
    assert secret["DeletionPolicy"] == "Retain"  # follows the removal policy
    assert of_type(synth.templates[stacks.CONSUMER_STACK], "AWS::SecretsManager::Secret") == {}


def test_every_function_gets_the_key_secret_by_dynamic_reference(synth: Synthesis) -> None:
    main = synth.templates[stacks.MAIN_STACK]
    consumer = synth.templates[stacks.CONSUMER_STACK]
    secret_id, _ = only(main, "AWS::SecretsManager::Secret")
    # The consumer imports the secret by the ARN the first stack publishes in SSM, read when
    # it deploys, as it reads the layer's.
    (parameter_id,) = [
        k for k, p in consumer["Parameters"].items() if p.get("Default") == KEY_SECRET_PARAMETER
    ]
    assert consumer["Parameters"][parameter_id]["Type"] == "AWS::SSM::Parameter::Value<String>"
    expected = {
        stacks.MAIN_STACK: secret_reference(f"${{{secret_id}}}"),
        stacks.CONSUMER_STACK: secret_reference(f"${{{parameter_id}}}"),
    }
    found = functions(synth)
    assert len(found) == 4
    for stack, logical_id, properties in found:
        value = properties["Environment"]["Variables"][construct.KEY_SECRET_ENV]
        assert not isinstance(value, str), logical_id  # a reference, never a literal
        assert render(value) == expected[stack], logical_id


@pytest.mark.parametrize("app", ["project", "options"])
def test_no_template_holds_a_secret_value(
    app: str, synth: Synthesis, options_synth: Synthesis
) -> None:
    checked = synth if app == "project" else options_synth
    references = 0
    for name, template in checked.templates.items():
        for path, value in strings(template):
            assert "SecretString" not in path, (name, path)  # no value given to a secret
            if "{{resolve:" in value:
                # Only the functions' HTTP_CACHE_KEY_SECRET, resolved by CloudFormation.
                assert value.startswith("{{resolve:secretsmanager:"), (name, path)
                assert path[0] == "Resources", (name, path)
                assert template["Resources"][path[1]]["Type"] == "AWS::Lambda::Function"
                assert path[2:6] == (
                    "Properties",
                    "Environment",
                    "Variables",
                    "HTTP_CACHE_KEY_SECRET",
                )
                references += 1
        # The functions read it from their environment: no Secrets Manager grant.
        for kind in ("AWS::IAM::Policy", "AWS::IAM::Role"):
            for resource in of_type(template, kind).values():
                assert '"secretsmanager:' not in json.dumps(resource), name
    assert references == sum(
        len(of_type(t, "AWS::Lambda::Function")) for t in checked.templates.values()
    )


def test_grant_cache_access_hands_over_the_secret_it_is_given(options: dict[str, Any]) -> None:
    secret_id, _ = only(options, "AWS::SecretsManager::Secret")
    expected = {
        "Attached": secret_reference(f"${{{secret_id}}}"),
        "OptedOut": secret_reference(f"${{{secret_id}}}"),
        "ByName": secret_reference(f"{SECRET_ARN_PREFIX}{IMPORTED_SECRET}"),
    }
    for name, reference in expected.items():
        variables = function_named(options, name)["Environment"]["Variables"]
        assert render(variables[construct.KEY_SECRET_ENV]) == reference, name


def test_the_construct_takes_an_existing_key_secret(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = Stack(App(), "UserStack")
    existing = secretsmanager.Secret.from_secret_name_v2(stack, "Existing", "team/cache-key")
    cache = cache_in(
        stack,
        tmp_path_factory,
        parameter_prefix=construct.DEFAULT_PARAMETER_PREFIX,
        monitoring=False,
        key_secret=existing,
    )
    assert cache.key_secret is existing
    # monitoring=False: no dashboard, no alarm.
    assert (cache.monitoring, cache.dashboard, cache.error_rate_alarm, cache.alarms) == (
        None,
        None,
        None,
        [],
    )
    cache.attach(inline_function(stack, "Fn"))
    template = Template.from_stack(stack).to_json()
    assert of_type(template, "AWS::SecretsManager::Secret") == {}
    arn = f"{SECRET_ARN_PREFIX}team/cache-key"
    variables = function_named(template, "Fn")["Environment"]["Variables"]
    assert render(variables[construct.KEY_SECRET_ENV]) == secret_reference(arn)
    (parameter,) = [
        p["Properties"]
        for p in of_type(template, "AWS::SSM::Parameter").values()
        if p["Properties"]["Name"] == KEY_SECRET_PARAMETER
    ]
    assert render(parameter["Value"]) == arn


# cdk-nag and cfn-lint -----------------------------------------------------------------------------


def nag_suppressions(synth: Synthesis) -> list[tuple[str, dict[str, Any]]]:
    return [
        (resource["Type"], rule)
        for template in synth.templates.values()
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]


@pytest.mark.parametrize("app", ["project", "options"])
def test_cdk_nag_aws_solutions_finds_nothing_unsuppressed(
    app: str, synth: Synthesis, options_synth: Synthesis
) -> None:
    checked = synth if app == "project" else options_synth
    for name, stack in checked.stacks.items():
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [], (name, [e.entry.data for e in errors])
        assert warnings == [], (name, [w.entry.data for w in warnings])
        assert annotations.find_error("*", Match.any_value()) == []
        (report,) = checked.outdir.glob(f"AwsSolutions-*-{name}-NagReport.csv")
        assert '"Non-Compliant"' not in report.read_text(encoding="utf-8")


def test_every_nag_suppression_carries_a_reason(synth: Synthesis, options_synth: Synthesis) -> None:
    project = nag_suppressions(synth)
    # One per function role: the basic execution policy (logs only); one per function on a
    # runtime older than python3.14, the newest: the runtime is the newest the layer has
    # bytecode for (python3.14 when the build found a 3.14 interpreter); the key secret's
    # rotation.
    older = newest_bytecode_runtime(synth.layer_dir) != "python3.14"
    assert sorted((kind, rule["id"]) for kind, rule in project) == sorted(
        [("AWS::IAM::Role", "AwsSolutions-IAM4")] * 4
        + [("AWS::Lambda::Function", "AwsSolutions-L1")] * (4 if older else 0)
        + [("AWS::SecretsManager::Secret", "AwsSolutions-SMG4")]
    )
    options = nag_suppressions(options_synth)
    # The same for the three functions and the secret; the bucket's access logs; and for
    # each function granted the bucket (role and its default policy), the object-key wildcard.
    assert sorted((kind, rule["id"]) for kind, rule in options) == sorted(
        [("AWS::IAM::Role", "AwsSolutions-IAM4")] * 3
        + [("AWS::Lambda::Function", "AwsSolutions-L1")] * (3 if older else 0)
        + [("AWS::SecretsManager::Secret", "AwsSolutions-SMG4")]
        + [("AWS::S3::Bucket", "AwsSolutions-S1")]
        + [("AWS::IAM::Role", "AwsSolutions-IAM5"), ("AWS::IAM::Policy", "AwsSolutions-IAM5")] * 3
    )
    for kind, rule in project + options:
        assert rule["id"].startswith("AwsSolutions-")
        assert len(rule.get("reason", "").split()) >= 5, rule
        # Access logging, rotation and the runtime are one finding each, not a list.
        if kind not in ("AWS::S3::Bucket", "AWS::SecretsManager::Secret", "AWS::Lambda::Function"):
            assert rule.get("applies_to"), f"{rule['id']} suppressed for every finding"
    (secret_rule,) = [r for _, r in project if r["id"] == "AwsSolutions-SMG4"]
    assert "miss" in secret_rule["reason"] and "deploy" in secret_rule["reason"]
    # The wildcard suppressed is the objects of the function's namespace under the cache
    # prefix, nothing wider.
    prefix = construct.DEFAULT_LARGE_OBJECT_PREFIX
    template = options_synth.templates[OPTIONS_STACK]
    namespaces = {
        f["Properties"]["Role"]["Fn::GetAtt"][0]: f["Properties"]["Environment"]["Variables"][
            construct.NAMESPACE_ENV
        ]
        for f in of_type(template, "AWS::Lambda::Function").values()
    }
    assert len(set(namespaces.values())) == 3
    checked = 0
    for logical_id, resource in template["Resources"].items():
        role_id = logical_id
        if resource["Type"] == "AWS::IAM::Policy":
            (reference,) = resource["Properties"]["Roles"]
            role_id = reference["Ref"]
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            if rule["id"] != "AwsSolutions-IAM5":
                continue
            namespace = namespaces[role_id]
            other = next(n for n in namespaces.values() if n != namespace)
            (applies_to,) = rule["applies_to"]
            pattern = re.compile(applies_to["regex"].strip("/"))
            bucket_arn = "<HttpCacheLargeObjects1234.Arn>"
            assert pattern.match(f"Resource::{bucket_arn}/{prefix}{namespace}/*")
            assert pattern.match(f"Resource::arn:<AWS::Partition>:s3:::b/{prefix}{namespace}/*")
            assert not pattern.match(f"Resource::{bucket_arn}/{prefix}{other}/*")
            assert not pattern.match(f"Resource::{bucket_arn}/{prefix}*")
            assert not pattern.match(f"Resource::{bucket_arn}/*")
            assert not pattern.match("Resource::*")
            checked += 1
    assert checked == 6


@pytest.mark.parametrize("app", ["project", "options"])
def test_cfn_lint_passes_every_synthesized_template(
    app: str, synth: Synthesis, options_synth: Synthesis
) -> None:
    checked = synth if app == "project" else options_synth
    templates = sorted(checked.outdir.glob("*.template.json"))
    assert len(templates) == len(checked.templates)
    for template in templates:
        matches = lint_file(template, ManualArgs(regions=CFN_LINT_REGIONS))
        errors = [str(m) for m in matches if m.rule.severity == "error"]
        others = [str(m) for m in matches if m.rule.id not in ACCEPTED_CFN_LINT_WARNINGS]
        assert errors == [], template.name
        assert others == [], template.name


# The construct in a user's app -----------------------------------------------------------------


def test_the_construct_in_another_app(tmp_path_factory: pytest.TempPathFactory) -> None:
    app = App(context={construct.DESTROY_CONTEXT: "true"})
    stack = Stack(app, "UserStack")
    cache = construct.HttpCache(
        stack,
        "Cache",
        table_props={"table_name": "my_cache"},
        layer_dir=layer_dir(tmp_path_factory),
        build_layer=False,
        parameter_prefix="/my-app/http-cache",
    )
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=lambda_.Architecture.ARM_64,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return {}\n"),
    )
    assert cache.attach(function) is cache.layer
    assert cache.monitoring is not None
    assert cache.dashboard is cache.monitoring.dashboard
    assert cache.alarms == [cache.error_rate_alarm, cache.throttle_alarm] == cache.monitoring.alarms
    for runtime in (lambda_.Runtime.PYTHON_3_10, lambda_.Runtime.NODEJS_22_X):
        other = lambda_.Function(
            stack,
            f"Other{runtime.name.replace('.', '')}",
            runtime=runtime,
            handler="index.handler",
            code=lambda_.Code.from_inline("x = 1\n"),
        )
        with pytest.raises(ValueError, match="no lambda_http_cache layer"):
            cache.attach(other)

    template = Template.from_stack(stack).to_json()
    _, table = only(template, "AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"]["TableName"] == "my_cache"
    assert table["Properties"]["DeletionProtectionEnabled"] is False
    secret_id, secret = only(template, "AWS::SecretsManager::Secret")
    assert secret["DeletionPolicy"] == "Delete"  # follows the removal policy
    assert sorted(
        p["Properties"]["Name"] for p in of_type(template, "AWS::SSM::Parameter").values()
    ) == [
        "/my-app/http-cache/key-secret-arn",
        "/my-app/http-cache/layer-arn",
    ]
    functions_ = of_type(template, "AWS::Lambda::Function")
    attached = [p["Properties"] for p in functions_.values() if p["Properties"].get("Layers")]
    (properties,) = attached
    assert properties["Architectures"] == ["arm64"]
    variables = properties["Environment"]["Variables"]
    namespace = construct.default_namespace(function)
    assert namespace.startswith("UserStack.Fn.")
    assert {k: render(v) for k, v in variables.items()} == {
        construct.TABLE_ENV: f"${{{only(template, 'AWS::DynamoDB::Table')[0]}}}",
        construct.NAMESPACE_ENV: namespace,
        construct.KEY_SECRET_ENV: secret_reference(f"${{{secret_id}}}"),
        construct.SERVICE_ENV: "my_cache",  # the table name by default
    }
    role_id = properties["Role"]["Fn::GetAtt"][0]
    (statement,) = role_statements(template, role_id)
    assert sorted(statement["Action"]) == sorted(construct.CACHE_TABLE_ACTIONS)
    assert statement["Condition"] == leading_keys(namespace)
    # Monitoring is on by default, watching the metrics of that service.
    assert cache.metrics_service == "my_cache"
    assert len(of_type(template, "AWS::CloudWatch::Alarm")) == 2
    services = {
        m["dimensions"].get("service")
        for m in dashboard_metrics(dashboard_body(template))
        if m.get("namespace") == monitoring.METRICS_NAMESPACE
    }
    assert services == {"my_cache"}


def test_the_construct_builds_the_layer_only_when_needed(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with pytest.raises(FileNotFoundError, match="make layer"):
        construct.load_layer_manifest(tmp_path / "empty", build=False)
    built = layer_dir(tmp_path_factory)
    copy = tmp_path / "dist"
    shutil.copytree(built, copy)
    # Runs scripts/build_layer.py, which rebuilds only if the sources changed meanwhile.
    manifest = construct.load_layer_manifest(copy)
    (entry,) = manifest["layers"]
    assert (copy / entry["file"]).stat().st_size == entry["size"]


def test_the_construct_publishes_the_one_layer_zip(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    built = layer_dir(tmp_path_factory)
    manifest = json.loads((built / "layer-manifest.json").read_text(encoding="utf-8"))
    stack = Stack(App(), "UserStack")
    cache = cache_in(stack, tmp_path_factory, parameter_prefix="/my-app/cache", monitoring=False)
    published = cache.published_layer
    assert cache.layer is published.layer
    assert cache.layer_parameter is published.parameter is not None
    assert construct.layer_parameter_name("/my-app/cache") == "/my-app/cache/layer-arn"
    (entry,) = manifest["layers"]
    assert construct.layer_zip(manifest) == entry
    assert published.architectures == tuple(entry["architectures"]) == ("x86_64", "arm64")
    assert published.python_versions == tuple(entry["python_versions"])
    assert published.bytecode == tuple(entry["bytecode"])
    template = Template.from_stack(stack).to_json()
    layer_id, layer = only(template, "AWS::Lambda::LayerVersion")
    assert layer_id.startswith("CacheLayer")
    assert layer["Properties"]["LayerName"] == "lambda-http-cache"
    parameters = {
        p["Properties"]["Name"]: p["Properties"]["Value"]
        for p in of_type(template, "AWS::SSM::Parameter").values()
    }
    assert parameters["/my-app/cache/layer-arn"] == {"Ref": layer_id}
    assert set(parameters) == {"/my-app/cache/layer-arn", "/my-app/cache/key-secret-arn"}
    # A manifest with another count of zips is not one this construct can publish.
    for entries in ([], [entry, {**entry, "file": "other.zip"}]):
        copy = tmp_path / f"dist{len(entries)}"
        shutil.copytree(built, copy)
        (copy / "layer-manifest.json").write_text(json.dumps({**manifest, "layers": entries}))
        with pytest.raises(ValueError, match=f"{len(entries)} layer zips, expected one"):
            construct.HttpCache(Stack(App(), "Other"), "Cache", layer_dir=copy, build_layer=False)


# Dashboard and alarms -----------------------------------------------------------------------------


def test_the_construct_names_the_metrics_and_settings_the_library_uses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from lambda_http_cache import config, observability

    assert {k: v[0] for k, v in observability.COUNT_METRICS.items()} == monitoring.COUNT_METRICS
    assert monitoring.LATENCY_METRICS == observability.LATENCY_METRICS
    assert monitoring.METRICS_NAMESPACE == config.DEFAULT_METRICS_NAMESPACE
    assert config.ENVIRONMENT["table_name"][0] == construct.TABLE_ENV
    assert config.ENVIRONMENT["namespace"][0] == construct.NAMESPACE_ENV
    assert config.ENVIRONMENT["key_secret"][0] == construct.KEY_SECRET_ENV
    assert config.ENVIRONMENT["service"][0] == construct.SERVICE_ENV
    assert config.ENVIRONMENT["large_object_bucket"][0] == construct.BUCKET_ENV
    assert config.ENVIRONMENT["large_object_prefix"][0] == construct.PREFIX_ENV
    defaults = config.CacheConfig(namespace="n")
    assert defaults.large_object_prefix == construct.DEFAULT_LARGE_OBJECT_PREFIX
    # What the library prints: the namespace, and the one dimension with its value.
    publisher = observability.MetricsPublisher(monitoring.METRICS_NAMESPACE, "svc")
    publisher.publish({"hits": 1}, {"cache": [1.5], "origin": [30.0]})
    (document,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == monitoring.METRICS_NAMESPACE
    assert directive["Dimensions"] == [[monitoring.METRICS_DIMENSION]]
    assert document[monitoring.METRICS_DIMENSION] == "svc"
    assert {m["Name"] for m in directive["Metrics"]} == {
        *monitoring.COUNT_METRICS.values(),
        *monitoring.LATENCY_METRICS.values(),
    }


def test_the_dashboard_shows_the_documented_metrics(main: dict[str, Any]) -> None:
    table_id, _ = only(main, "AWS::DynamoDB::Table")
    metrics = dashboard_metrics(dashboard_body(main))
    library = [m for m in metrics if m.get("namespace") == monitoring.METRICS_NAMESPACE]
    published = {*monitoring.COUNT_METRICS.values(), *monitoring.LATENCY_METRICS.values()}
    names = {m["name"] for m in library}
    assert names <= published  # no name the library does not publish
    assert names >= {
        "CacheHits",
        "CacheMisses",
        "CacheMemoryHits",
        "CacheErrors",
        "CacheBypassed",
        "CacheOversizeSkips",
        "CacheLatency",
        "OriginLatency",
    }
    assert {tuple(m["dimensions"].items()) for m in library} == {(("service", "http_cache"),)}
    for name in monitoring.LATENCY_METRICS.values():
        assert {m["stat"] for m in library if m["name"] == name} == {"p50", "p99"}
    expressions = {m["expression"] for m in metrics if "expression" in m}
    assert "100 * hits / (hits + misses)" in expressions
    assert "100 * memory / hits" in expressions
    # The table: consumed units and the throttles of the two calls the library makes.
    table = [m for m in metrics if m.get("namespace") == "AWS/DynamoDB"]
    assert {m["dimensions"]["TableName"] for m in table} == {f"${{{table_id}}}"}
    assert {m["name"] for m in table} == {
        "ConsumedReadCapacityUnits",
        "ConsumedWriteCapacityUnits",
        "ThrottledRequests",
    }
    throttled = [m for m in table if m["name"] == "ThrottledRequests"]
    assert {m["dimensions"].get("Operation") for m in throttled} == {"GetItem", "PutItem"}
    # Every graph's metrics are documented on the dashboard's page of the documentation.
    section = dashboard_page()
    for name in names | {m["name"] for m in table}:
        assert name in section, name


def test_the_alarms_watch_the_failure_rate_and_table_throttling(main: dict[str, Any]) -> None:
    table_id, _ = only(main, "AWS::DynamoDB::Table")
    alarms = {k: a for k, a in of_type(main, "AWS::CloudWatch::Alarm").items()}
    assert len(alarms) == 2
    (failure,) = [a for k, a in alarms.items() if "FailureRate" in k]
    (throttle,) = [a for k, a in alarms.items() if "Throttle" in k]

    properties = failure["Properties"]
    assert properties["Threshold"] == monitoring.ERROR_RATE_THRESHOLD_PERCENT == 5
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["EvaluationPeriods"] == 3
    assert properties["DatapointsToAlarm"] == 2
    assert properties["TreatMissingData"] == "notBreaching"
    expression, metrics = alarm_metrics(failure)
    assert expression == ("IF((hits + misses) > 0, 100 * (errors + bypassed) / (hits + misses), 0)")
    assert {i: m["Metric"]["MetricName"] for i, m in metrics.items()} == {
        "hits": "CacheHits",
        "misses": "CacheMisses",
        "errors": "CacheErrors",
        "bypassed": "CacheBypassed",
    }
    for metric in metrics.values():
        assert metric["Metric"]["Namespace"] == "LambdaHttpCache"
        assert metric["Metric"]["Dimensions"] == [{"Name": "service", "Value": "http_cache"}]
        assert (metric["Period"], metric["Stat"]) == (300, "Sum")

    properties = throttle["Properties"]
    assert properties["Threshold"] == monitoring.THROTTLE_THRESHOLD == 0
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["EvaluationPeriods"] == 1
    assert properties["TreatMissingData"] == "notBreaching"
    expression, metrics = alarm_metrics(throttle)
    assert expression == "FILL(getitem, 0) + FILL(putitem, 0)"
    for operation, metric in zip(("GetItem", "PutItem"), metrics.values(), strict=True):
        assert metric["Metric"]["Namespace"] == "AWS/DynamoDB"
        assert metric["Metric"]["MetricName"] == "ThrottledRequests"
        dimensions = {d["Name"]: d["Value"] for d in metric["Metric"]["Dimensions"]}
        assert dimensions == {"TableName": {"Ref": table_id}, "Operation": operation}
        assert (metric["Period"], metric["Stat"]) == (300, "Sum")

    # The dashboard's page states each threshold.
    section = dashboard_page()
    assert "more than 5" in section
    assert "2 of 3" in section


def test_every_function_reports_under_the_service_the_alarms_watch(synth: Synthesis) -> None:
    main = synth.templates[stacks.MAIN_STACK]
    watched = {
        d["Value"]
        for alarm in of_type(main, "AWS::CloudWatch::Alarm").values()
        for query in alarm["Properties"]["Metrics"]
        if query.get("MetricStat", {}).get("Metric", {}).get("Namespace") == "LambdaHttpCache"
        for d in query["MetricStat"]["Metric"]["Dimensions"]
    }
    assert watched == {"http_cache"}
    # The consumer's function too: it attaches by ARN, in another stack.
    for _, logical_id, properties in functions(synth):
        assert properties["Environment"]["Variables"][construct.SERVICE_ENV] in watched, logical_id
    assert "DashboardName" in main["Outputs"]


def test_without_monitoring_there_is_no_dashboard_or_alarm(options: dict[str, Any]) -> None:
    assert of_type(options, "AWS::CloudWatch::Dashboard") == {}
    assert of_type(options, "AWS::CloudWatch::Alarm") == {}


def test_the_dashboard_and_alarms_keep_their_logical_ids(main: dict[str, Any]) -> None:
    """HttpCacheMonitoring makes them now, under HttpCache: with other logical ids, the next
    deploy would replace them (another dashboard name, the alarms' history lost)."""
    found = {k for k, r in main["Resources"].items() if r["Type"].startswith("AWS::CloudWatch::")}
    assert found == {
        "HttpCacheCacheFailureRateAlarm31728F8B",
        "HttpCacheTableThrottleAlarmB14BB04A",
        "HttpCacheDashboard78979228",
    }


def test_the_monitoring_construct_watches_a_table_it_does_not_own() -> None:
    templates = {}
    for service in (None, "custom-service"):
        stack = Stack(App(), "Watcher")
        table = dynamodb.Table.from_table_name(stack, "Table", "shared_cache")
        watcher = monitoring.HttpCacheMonitoring(
            stack, "Monitoring", table=table, metrics_service=service
        )
        # By default the table's name: what attach and grant_cache_access set.
        assert watcher.metrics_service == (service or "shared_cache")
        assert watcher.alarms == [watcher.error_rate_alarm, watcher.throttle_alarm]
        templates[watcher.metrics_service] = Template.from_stack(stack).to_json()
    for service, template in templates.items():
        assert of_type(template, "AWS::DynamoDB::Table") == {}
        metrics = dashboard_metrics(dashboard_body(template))
        library = [m for m in metrics if m.get("namespace") == monitoring.METRICS_NAMESPACE]
        assert {m["dimensions"]["service"] for m in library} == {service}
        table = [m for m in metrics if m.get("namespace") == "AWS/DynamoDB"]
        assert {m["dimensions"]["TableName"] for m in table} == {"shared_cache"}
        alarms = of_type(template, "AWS::CloudWatch::Alarm")
        assert len(alarms) == 2
        watched = {
            (m["MetricStat"]["Metric"]["Namespace"], d["Name"], d["Value"])
            for alarm in alarms.values()
            for m in alarm["Properties"]["Metrics"]
            if "MetricStat" in m
            for d in m["MetricStat"]["Metric"]["Dimensions"]
            if d["Name"] != "Operation"
        }
        assert watched == {
            (monitoring.METRICS_NAMESPACE, "service", service),
            ("AWS/DynamoDB", "TableName", "shared_cache"),
        }


def test_a_metric_is_one_the_library_publishes() -> None:
    metric = monitoring.cache_metric("CacheErrors", "svc", statistic="p99", label="errors")
    assert metric.namespace == monitoring.METRICS_NAMESPACE
    assert metric.metric_name == "CacheErrors"
    assert metric.dimensions == {monitoring.METRICS_DIMENSION: "svc"}
    assert (metric.statistic, metric.label) == ("p99", "errors")
    assert metric.period.to_seconds() == 300
    with pytest.raises(ValueError, match="'CacheHit' is not a metric the library publishes"):
        monitoring.cache_metric("CacheHit", "svc")


def test_a_function_can_keep_its_own_metrics_service(options: dict[str, Any]) -> None:
    variables = function_named(options, "OptedOut")["Environment"]["Variables"]
    assert construct.SERVICE_ENV not in variables
    variables = function_named(options, "Attached")["Environment"]["Variables"]
    assert variables[construct.SERVICE_ENV] == "http_cache"
    variables = function_named(options, "ByName")["Environment"]["Variables"]
    assert variables[construct.SERVICE_ENV] == "custom-service"


# The bucket for large bodies ----------------------------------------------------------------------


def test_no_bucket_and_no_s3_grant_by_default(synth: Synthesis) -> None:
    for name, template in synth.templates.items():
        assert of_type(template, "AWS::S3::Bucket") == {}, name
        for policy in of_type(template, "AWS::IAM::Policy").values():
            assert '"s3:' not in json.dumps(policy), name
        for role in of_type(template, "AWS::IAM::Role").values():
            assert '"s3:' not in json.dumps(role), name
    for _, logical_id, properties in functions(synth):
        variables = properties["Environment"]["Variables"]
        assert construct.BUCKET_ENV not in variables, logical_id
        assert construct.PREFIX_ENV not in variables, logical_id


def test_the_large_object_bucket(options: dict[str, Any]) -> None:
    bucket_id, bucket = only(options, "AWS::S3::Bucket")
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    assert "VersioningConfiguration" not in properties
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == construct.DEFAULT_LARGE_OBJECT_EXPIRY_DAYS == 1
    assert "Prefix" not in rule  # every object in the bucket expires
    assert bucket["DeletionPolicy"] == "Retain"
    # TLS only.
    _, policy = only(options, "AWS::S3::BucketPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert bucket_id.startswith("HttpCacheLargeObjects")


def test_attached_functions_get_the_bucket_and_exactly_get_and_put_object(
    options: dict[str, Any],
) -> None:
    bucket_id, _ = only(options, "AWS::S3::Bucket")
    table_id, _ = only(options, "AWS::DynamoDB::Table")
    prefix = construct.DEFAULT_LARGE_OBJECT_PREFIX
    own_bucket = f"${{{bucket_id}.Arn}}"
    imported_bucket = f"arn:${{AWS::Partition}}:s3:::{IMPORTED_BUCKET}"
    expected = {
        "Attached": ({"Ref": bucket_id}, own_bucket),
        "OptedOut": ({"Ref": bucket_id}, own_bucket),
        "ByName": (IMPORTED_BUCKET, imported_bucket),
    }
    grants = {}
    for name, (bucket_value, bucket_arn) in expected.items():
        properties = function_named(options, name)
        variables = properties["Environment"]["Variables"]
        namespace = variables[construct.NAMESPACE_ENV]
        assert variables[construct.BUCKET_ENV] == bucket_value, name
        assert variables[construct.PREFIX_ENV] == prefix, name
        role_id = properties["Role"]["Fn::GetAtt"][0]
        (s3_statement,) = statements_with(options, "s3:", role_id)
        assert s3_statement["Effect"] == "Allow"
        assert sorted(as_list(s3_statement["Action"])) == sorted(construct.LARGE_OBJECT_ACTIONS)
        # The objects of the function's namespace only: <prefix><namespace>/*.
        assert [render(r) for r in as_list(s3_statement["Resource"])] == [
            f"{bucket_arn}/{prefix}{namespace}/*"
        ], name
        assert "Condition" not in s3_statement
        # And the table grant as without the bucket: nothing else in the role.
        (dynamodb_statement,) = statements_with(options, "dynamodb:", role_id)
        assert role_statements(options, role_id) == [dynamodb_statement, s3_statement]
        assert dynamodb_statement["Condition"] == leading_keys(namespace)
        table_arn = [render(r) for r in as_list(dynamodb_statement["Resource"])]
        if name == "ByName":
            assert namespace == BY_NAME_NAMESPACE
            assert table_arn == [IMPORTED_TABLE_ARN.replace("http_cache", "other_cache")]
        else:
            assert table_arn == [f"${{{table_id}.Arn}}"]
        grants[name] = (namespace, bucket_arn, role_statements(options, role_id))
    # Evaluated (moto does not evaluate IAM policies on S3 object ARNs): a function reads and
    # writes its own namespace's bodies, not another's, and deletes or lists nothing.
    for name, (namespace, bucket_arn, statements) in grants.items():
        for action in construct.LARGE_OBJECT_ACTIONS:
            for other, (other_namespace, _, _) in grants.items():
                key = f"{bucket_arn}/{prefix}{other_namespace}/{DIGEST}"
                assert is_allowed(statements, Request(action, key)) == (other == name)
            for key in (f"{prefix}{namespace}x/{DIGEST}", f"{prefix}{DIGEST}", DIGEST):
                assert not is_allowed(statements, Request(action, f"{bucket_arn}/{key}"))
        own = f"{bucket_arn}/{prefix}{namespace}/{DIGEST}"
        for action in ("s3:DeleteObject", "s3:ListBucket", "s3:GetObjectVersion"):
            assert not is_allowed(statements, Request(action, own))
            assert not is_allowed(statements, Request(action, bucket_arn))


def test_large_object_options_are_checked(tmp_path_factory: pytest.TempPathFactory) -> None:
    stack = Stack(App(), "Checks")
    with pytest.raises(ValueError, match="at least 1"):
        construct.HttpCache(stack, "Cache", large_object_expiry_days=0)
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("x = 1\n"),
    )
    bucket = s3.Bucket.from_bucket_name(stack, "Bucket", "bucket-name")
    for prefix in ("", "cache/*", "a?b"):
        with pytest.raises(ValueError, match="prefix"):
            construct.grant_large_object_access(function, bucket, prefix)


# The plain CloudFormation template ----------------------------------------------------------------


def test_example_table_template_is_cfn_lint_clean() -> None:
    assert lint_file(EXAMPLE_TEMPLATE, ManualArgs(regions=CFN_LINT_REGIONS)) == []


def test_example_table_template_declares_the_same_table_and_grant() -> None:
    template, problems = decode(str(EXAMPLE_TEMPLATE))
    assert not problems
    assert template is not None
    _, table = only(template, "AWS::DynamoDB::Table")
    properties = table["Properties"]
    assert template["Parameters"]["TableName"]["Default"] == construct.DEFAULT_TABLE_NAME
    assert properties["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert properties["AttributeDefinitions"] == [{"AttributeName": "key", "AttributeType": "S"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert table["DeletionPolicy"] == "Retain"
    _, policy = only(template, "AWS::IAM::ManagedPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == list(construct.CACHE_TABLE_ACTIONS)
    assert statement["Resource"] == {"Fn::GetAtt": ["HttpCacheTable", "Arn"]}
    # Confined to one namespace, as the construct's grants are.
    namespace = template["Parameters"]["Namespace"]
    assert namespace["AllowedPattern"] == construct.NAMESPACE_PATTERN.pattern
    assert "Default" not in namespace
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [{"Fn::Sub": "${Namespace}:*"}]}
    }
    # A generated key secret, kept.
    _, secret = only(template, "AWS::SecretsManager::Secret")
    assert set(secret["Properties"]) == {"Description", "GenerateSecretString"}
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] == 64
    assert secret["DeletionPolicy"] == "Retain"


# How the app is run -------------------------------------------------------------------------------


def test_cdk_json_runs_the_app_with_the_project_python() -> None:
    config = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))
    interpreter, script = config["app"].split()
    assert interpreter == ".venv/bin/python"
    assert (ROOT / script).exists()


def test_deploy_uses_a_pinned_cdk_command_line() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    version = re.search(r"^CDK_CLI_VERSION := (\S+)$", makefile, flags=re.MULTILINE)
    assert version and re.fullmatch(r"\d+\.\d+\.\d+", version.group(1))
    assert "npx --yes aws-cdk@$(CDK_CLI_VERSION) deploy" in makefile
    assert Path(ROOT / "cdk" / "app.py").exists()


def test_attach_warns_when_the_layer_has_no_bytecode_for_the_runtime(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A layer built where no 3.14 interpreter was found: bytecode for 3.11 to 3.13 only.
    layers = tmp_path / "dist"
    shutil.copytree(layer_dir(tmp_path_factory), layers)
    manifest = json.loads((layers / "layer-manifest.json").read_text(encoding="utf-8"))
    (entry,) = manifest["layers"]
    entry["bytecode"] = ["3.11", "3.12", "3.13"]
    (layers / "layer-manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    stack = Stack(App(), "BytecodeCheck")
    cache = construct.HttpCache(
        stack,
        "Cache",
        layer_dir=layers,
        build_layer=False,
        parameter_prefix=None,
        monitoring=False,
    )
    assert cache.bytecode_runtime.name == "python3.13"
    for name, runtime in (
        ("Old", lambda_.Runtime.PYTHON_3_13),
        ("New", lambda_.Runtime.PYTHON_3_14),
    ):
        function = lambda_.Function(
            stack,
            name,
            runtime=runtime,
            handler="handler.handler",
            code=lambda_.Code.from_inline("def handler(event, context): pass"),
        )
        cache.attach(function)
    warnings = Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp("bytecode"))
    assert [w.id for w in warnings] == ["/BytecodeCheck/New"]
    assert "LAYER_PYTHON_3_14=/path/to/python3.14 make layer FORCE=1" in str(warnings[0].entry.data)
