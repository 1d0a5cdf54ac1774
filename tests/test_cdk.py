"""The CDK app, synthesized once per session: the table, least-privilege grants, the layer on
each function, outputs and SSM parameters, cdk-nag's AwsSolutions checks and cfn-lint; the
construct in another app; and the plain CloudFormation template of the table."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from tests.cdk_support import ROOT, Synthesis, cdk_modules, layer_dir, synthesis

construct, stacks = cdk_modules()

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


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    return synthesis(tmp_path_factory)


@pytest.fixture(scope="module")
def main(synth: Synthesis) -> dict[str, Any]:
    return synth.templates[stacks.MAIN_STACK]


@pytest.fixture(scope="module")
def consumer(synth: Synthesis) -> dict[str, Any]:
    return synth.templates[stacks.CONSUMER_STACK]


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


def readme_deploy_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = text.index("<!-- deploy:start -->"), text.index("<!-- deploy:end -->")
    return text[start:end]


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


def test_the_documented_actions_are_get_and_put_item_only() -> None:
    assert set(construct.CACHE_TABLE_ACTIONS) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    section = readme_deploy_section()
    for action in construct.CACHE_TABLE_ACTIONS:
        assert action in section


def test_every_function_role_gets_exactly_the_cache_actions_on_the_table(
    synth: Synthesis,
) -> None:
    table_id, _ = only(synth.templates[stacks.MAIN_STACK], "AWS::DynamoDB::Table")
    table_arn = {
        stacks.MAIN_STACK: f"${{{table_id}.Arn}}",
        stacks.CONSUMER_STACK: IMPORTED_TABLE_ARN,
    }
    found = functions(synth)
    assert len(found) == 4
    for stack, logical_id, properties in found:
        template = synth.templates[stack]
        role_id = properties["Role"]["Fn::GetAtt"][0]
        statements = role_statements(template, role_id)
        dynamodb = [
            s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
        ]
        assert len(dynamodb) == 1, (logical_id, statements)
        (statement,) = dynamodb
        assert statement["Effect"] == "Allow"
        assert sorted(as_list(statement["Action"])) == sorted(construct.CACHE_TABLE_ACTIONS)
        assert [render(r) for r in as_list(statement["Resource"])] == [table_arn[stack]]
        assert "Condition" not in statement
        # Nothing else in the role's own policies; logs come from the basic execution role.
        assert statements == dynamodb, logical_id
        managed = template["Resources"][role_id]["Properties"].get("ManagedPolicyArns", [])
        assert [render(m) for m in managed] == [BASIC_EXECUTION_ROLE]


def test_no_policy_anywhere_grants_more_dynamodb(synth: Synthesis) -> None:
    for template in synth.templates.values():
        text = json.dumps(template)
        actions = set(re.findall(r'"(dynamodb:[A-Za-z*]+)"', text))
        assert actions == set(construct.CACHE_TABLE_ACTIONS) or not actions


# Functions ----------------------------------------------------------------------------------------


def test_functions_get_the_table_name_and_the_api_url(synth: Synthesis) -> None:
    table_id, _ = only(synth.templates[stacks.MAIN_STACK], "AWS::DynamoDB::Table")
    expected_table = {stacks.MAIN_STACK: {"Ref": table_id}, stacks.CONSUMER_STACK: "http_cache"}
    for stack, _, properties in functions(synth):
        variables = properties["Environment"]["Variables"]
        assert variables == {
            "CATALOG_API_URL": stacks.CATALOG_API_URL,
            construct.TABLE_ENV: expected_table[stack],
        }
        assert properties["Handler"] == "handler.handler"
        assert properties["Runtime"] == "python3.14" == stacks.RUNTIME.name


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


def test_consumer_takes_the_layer_arn_from_context() -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:layer:lambda-http-cache:7"
    app = App(context={stacks.LAYER_ARN_CONTEXT: arn, stacks.NAG_CONTEXT: False})
    stack = stacks.HttpCacheConsumerStack(app, "Consumer")
    template = Template.from_stack(stack).to_json()
    _, function = only(template, "AWS::Lambda::Function")
    assert function["Properties"]["Layers"] == [arn]
    assert construct.TABLE_ENV in function["Properties"]["Environment"]["Variables"]


# Outputs and parameters ---------------------------------------------------------------------------


def test_outputs_and_ssm_parameters(main: dict[str, Any]) -> None:
    table_id, _ = only(main, "AWS::DynamoDB::Table")
    layer_id, _ = only(main, "AWS::Lambda::LayerVersion")
    outputs = {k: render(v["Value"]) for k, v in main["Outputs"].items()}
    parameter_id, parameter = only(main, "AWS::SSM::Parameter")
    assert outputs["TableName"] == f"${{{table_id}}}"
    assert outputs["TableArn"] == f"${{{table_id}.Arn}}"
    assert outputs["LayerVersionArn"] == f"${{{layer_id}}}"
    assert outputs["LayerArnParameter"] == f"${{{parameter_id}}}"
    assert parameter["Properties"]["Name"] == "/lambda-http-cache/layer-arn"
    assert parameter["Properties"]["Type"] == "String"
    assert parameter["Properties"]["Value"] == {"Ref": layer_id}


# cdk-nag and cfn-lint -----------------------------------------------------------------------------


def test_cdk_nag_aws_solutions_finds_nothing_unsuppressed(synth: Synthesis) -> None:
    for name, stack in synth.stacks.items():
        annotations = Annotations.from_stack(stack)
        errors = annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*"))
        warnings = annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*"))
        assert errors == [], (name, [e.entry.data for e in errors])
        assert warnings == [], (name, [w.entry.data for w in warnings])
        assert annotations.find_error("*", Match.any_value()) == []
        (report,) = synth.outdir.glob(f"AwsSolutions-*-{name}-NagReport.csv")
        assert '"Non-Compliant"' not in report.read_text(encoding="utf-8")


def test_every_nag_suppression_carries_a_reason(synth: Synthesis) -> None:
    suppressions = [
        rule
        for template in synth.templates.values()
        for resource in template["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert len(suppressions) == 4  # one per function role
    for rule in suppressions:
        assert rule["id"].startswith("AwsSolutions-")
        assert len(rule.get("reason", "").split()) >= 5, rule
        assert rule.get("applies_to"), f"{rule['id']} suppressed for every finding"
    # And in the code: every suppression is written with a reason.
    for source in (ROOT / "cdk").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert text.count("NagPackSuppression(") == text.count("reason=")


def test_cfn_lint_passes_every_synthesized_template(synth: Synthesis) -> None:
    templates = sorted(synth.outdir.glob("*.template.json"))
    assert len(templates) == 2
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
        table_name="my_cache",
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
    assert cache.attach(function) is cache.layers[0].layer
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
    _, parameter = only(template, "AWS::SSM::Parameter")
    assert parameter["Properties"]["Name"] == "/my-app/http-cache/layer-arn"
    functions_ = of_type(template, "AWS::Lambda::Function")
    attached = [p["Properties"] for p in functions_.values() if p["Properties"].get("Layers")]
    (properties,) = attached
    assert properties["Architectures"] == ["arm64"]
    assert properties["Environment"]["Variables"] == {
        construct.TABLE_ENV: {"Ref": only(template, "AWS::DynamoDB::Table")[0]}
    }
    role_id = properties["Role"]["Fn::GetAtt"][0]
    (statement,) = role_statements(template, role_id)
    assert sorted(statement["Action"]) == sorted(construct.CACHE_TABLE_ACTIONS)


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
