"""The deploying examples: each CDK app of examples/ synthesized (on this session's layer
build, as tests/deploy synthesizes the project's app), the SAM template linted with its
transform, and the AWS CLI scripts run with a stand-in ``aws`` that records their calls, each
checked against what the construct grants and the layer build makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from scripts import build_layer
from tests.deploy.cdk_support import cdk_modules, layer_dir, monitoring_module
from tests.examples.support import EXAMPLES, load_example, options, run_with_fake_aws

pytestmark = pytest.mark.deploy
construct, _ = cdk_modules()
monitoring = monitoring_module()
CFN_LINT_REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return layer_dir(tmp_path_factory)


@pytest.fixture
def app_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder like your app's, its function code in src/ (the examples' asset). The CDK
    resolves a relative asset path from the folder its Node process started in (this test
    session's), so the examples' "src" is read from this folder instead."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return {}\n")
    from_asset = lambda_.Code.from_asset

    def from_app_folder(path: str, **kwargs: Any) -> Any:
        return from_asset(str(tmp_path / path), **kwargs)

    monkeypatch.setattr(lambda_.Code, "from_asset", staticmethod(from_app_folder))
    return tmp_path


def synthesize(stack_class: Any, folder: Path, **kwargs: Any) -> dict[str, Any]:
    app = App(outdir=str(folder / "cdk.out"))
    stack: Stack = stack_class(app, "Example", **kwargs)
    template: dict[str, Any] = Template.from_stack(stack).to_json()
    return template


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def cache_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement
        for policy in of_type(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(str(a).startswith("dynamodb:") for a in _list(statement["Action"]))
    ]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_construct_in_your_own_app(layers: Path, app_folder: Path) -> None:
    module = load_example("construct_app")
    assert Path("../lambda-http-cache/dist") == module.LAYER_DIR  # what the page tells
    template = synthesize(module.MyStack, app_folder, layer_dir=layers)
    (function,) = of_type(template, "AWS::Lambda::Function").values()
    properties = function["Properties"]
    assert len(properties["Layers"]) == 1
    variables = properties["Environment"]["Variables"]
    assert {
        "HTTP_CACHE_TABLE",
        "HTTP_CACHE_NAMESPACE",
        "HTTP_CACHE_KEY_SECRET",
        "HTTP_CACHE_SERVICE",
    } <= set(variables)
    assert properties["Architectures"] == ["arm64"]
    (statement,) = cache_statements(template)
    assert sorted(_list(statement["Action"])) == sorted(construct.CACHE_TABLE_ACTIONS)
    namespace = variables["HTTP_CACHE_NAMESPACE"]
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{namespace}:*"]}
    }
    # The default namespace under attach: the function's construct path and a hash.
    assert namespace.startswith("Example.Fn.")


def test_the_construct_options(layers: Path, app_folder: Path) -> None:
    module = load_example("construct_options")
    template = synthesize(module.PricingStack, app_folder, layer_dir=layers)
    (table,) = of_type(template, "AWS::DynamoDB::Table").values()
    assert table["Properties"]["TableName"] == "pricing_cache"
    assert table["Properties"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    (bucket,) = of_type(template, "AWS::S3::Bucket").values()
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 2
    functions = of_type(template, "AWS::Lambda::Function").values()
    namespaces = {
        f["Properties"]["Environment"]["Variables"]["HTTP_CACHE_NAMESPACE"] for f in functions
    }
    assert namespaces == {"prices"}
    alarms = of_type(template, "AWS::CloudWatch::Alarm").values()
    assert len(alarms) == 2 and all(a["Properties"]["AlarmActions"] for a in alarms)
    parameters = {
        p["Properties"]["Name"] for p in of_type(template, "AWS::SSM::Parameter").values()
    }
    assert parameters == {"/pricing-cache/layer-arn", "/pricing-cache/key-secret-arn"}


def test_the_dashboard_and_alarms_alone(app_folder: Path) -> None:
    module = load_example("monitoring_stack")
    template = synthesize(module.CacheWatchStack, app_folder)
    assert len(of_type(template, "AWS::CloudWatch::Dashboard")) == 1
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 3
    (oversize,) = [a for k, a in alarms.items() if k.startswith("OversizeAlarm")]
    (query,) = oversize["Properties"]["Metrics"]
    metric = query["MetricStat"]["Metric"]
    assert metric["MetricName"] == "CacheOversizeSkips"
    assert metric["Namespace"] == monitoring.METRICS_NAMESPACE
    assert metric["Dimensions"] == [{"Name": "service", "Value": "http_cache"}]


def test_attaching_by_arn_from_another_cdk_app(app_folder: Path) -> None:
    module = load_example("consumer_stack")
    template = synthesize(module.ConsumerStack, app_folder)
    (function,) = of_type(template, "AWS::Lambda::Function").values()
    properties = function["Properties"]
    (layer,) = properties["Layers"]
    assert "Ref" in layer  # the SSM parameter, read when the stack deploys
    parameters = {p.get("Default") for p in template["Parameters"].values()}
    assert {"/lambda-http-cache/layer-arn", "/lambda-http-cache/key-secret-arn"} <= parameters
    variables = properties["Environment"]["Variables"]
    assert variables["HTTP_CACHE_TABLE"] == variables["HTTP_CACHE_SERVICE"] == "http_cache"
    assert "resolve:secretsmanager" in json.dumps(variables["HTTP_CACHE_KEY_SECRET"])
    (statement,) = cache_statements(template)
    assert sorted(_list(statement["Action"])) == sorted(construct.CACHE_TABLE_ACTIONS)


def test_the_sam_template() -> None:
    path = EXAMPLES / "sam_template.yaml"
    assert lint_file(path, ManualArgs(regions=CFN_LINT_REGIONS)) == []
    template, problems = decode(str(path))
    assert not problems and template is not None
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    properties = template["Resources"]["MyFunction"]["Properties"]
    variables = properties["Environment"]["Variables"]
    (policy,) = properties["Policies"]
    (statement,) = policy["Statement"]
    assert statement["Action"] == list(construct.CACHE_TABLE_ACTIONS)
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {
            "dynamodb:LeadingKeys": [f"{variables['HTTP_CACHE_NAMESPACE']}:*"]
        }
    }
    assert variables["HTTP_CACHE_TABLE"] in statement["Resource"]["Fn::Sub"]
    assert properties["Runtime"].removeprefix("python") in build_layer.PYTHON_VERSIONS
    assert set(properties["Architectures"]) <= set(build_layer.ARCHITECTURES)


def test_attaching_by_arn_with_the_aws_cli(tmp_path: Path) -> None:
    calls = run_with_fake_aws(EXAMPLES / "attach_by_arn.sh", tmp_path)
    by_command = {tuple(call[:2]): options(call[2:]) for call in calls}
    update = by_command[("lambda", "update-function-configuration")]
    assert update["layers"] == "fake-ssm-get-parameter"  # the parameter's value
    environment = str(update["environment"])
    assert environment.startswith("Variables={") and environment.endswith("}")
    variables = dict(pair.split("=", 1) for pair in environment[len("Variables={") : -1].split(","))
    assert variables["HTTP_CACHE_KEY_SECRET"] == "fake-secretsmanager-get-secret-value"
    assert variables["HTTP_CACHE_TABLE"] == variables["HTTP_CACHE_SERVICE"] == "http_cache"
    policy = json.loads(str(by_command[("iam", "put-role-policy")]["policy-document"]))
    (statement,) = policy["Statement"]
    assert statement["Action"] == list(construct.CACHE_TABLE_ACTIONS)
    assert statement["Resource"] == "arn:aws:dynamodb:<region>:<account-id>:table/http_cache"
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {
            "dynamodb:LeadingKeys": [f"{variables['HTTP_CACHE_NAMESPACE']}:*"]
        }
    }


def test_deploying_without_cdk_with_the_aws_cli(tmp_path: Path) -> None:
    import lambda_http_cache

    calls = run_with_fake_aws(EXAMPLES / "deploy_without_cdk.sh", tmp_path)
    deploy, publish = calls
    assert deploy[:2] == ["cloudformation", "deploy"]
    assert (EXAMPLES.parent / str(options(deploy[2:])["template-file"])).is_file()
    assert publish[:2] == ["lambda", "publish-layer-version"]
    zip_file = str(options(publish[2:])["zip-file"])
    assert zip_file == f"fileb://dist/lambda_http_cache-{lambda_http_cache.__version__}-layer.zip"
    runtimes = publish[publish.index("--compatible-runtimes") + 1 :]
    runtimes = runtimes[: runtimes.index("--compatible-architectures")]
    assert runtimes == [f"python{v}" for v in build_layer.PYTHON_VERSIONS]
    architectures = publish[publish.index("--compatible-architectures") + 1 :]
    assert architectures == list(build_layer.ARCHITECTURES)
