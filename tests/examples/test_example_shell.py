"""The admin command's sample output and its AWS CLI equivalents (examples/admin_session.txt,
examples/admin_aws_cli.sh): the key they show is the one ``get`` computes for that URL, and
every AWS CLI command runs against the local DynamoDB server as written, its expression
attribute names all used (DynamoDB refuses one that is not)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scripts.local_servers import LOCAL_CREDENTIALS, MotoServer, create_cache_table, dynamodb_client
from tests.examples.support import EXAMPLES, ROOT, api_parameters, options, run_with_fake_aws

pytestmark = pytest.mark.integration
SESSION = EXAMPLES / "admin_session.txt"
CLI = EXAMPLES / "admin_aws_cli.sh"
URL = "https://api.example.com/products/1"
# What enters a key beside the request: the transport as the environment sets it. The sample
# is a function's, with none of these set (as in Lambda by default).
TRANSPORT_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


def admin(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in TRANSPORT_VARIABLES and not k.startswith("HTTP_CACHE_")
    }
    environment.update(LOCAL_CREDENTIALS)
    environment["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    environment["PYTHONPATH"] = str(ROOT / "layer")
    return subprocess.run(
        [sys.executable, "-m", "lambda_http_cache", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


@pytest.fixture
def table(moto_server: MotoServer) -> str:
    """A table named http_cache, as the examples name it, emptied first."""
    client = dynamodb_client(moto_server.endpoint)
    if "http_cache" in client.list_tables()["TableNames"]:
        client.delete_table(TableName="http_cache")
    create_cache_table(client, "http_cache")
    return "http_cache"


def sample_key() -> str:
    (key,) = re.findall(r"^key\s+(\S+)$", SESSION.read_text(encoding="utf-8"), re.MULTILINE)
    return key


def test_the_samples_key_is_the_one_get_computes(moto_server: MotoServer, table: str) -> None:
    answer = admin("get", URL, "--namespace", "catalog", endpoint=moto_server.endpoint)
    assert answer.returncode == 1, answer.stderr  # nothing cached here: exit status 1
    (computed,) = re.findall(r"^key\s+(\S+)$", answer.stdout, re.MULTILINE)
    assert computed == sample_key()
    assert f"get {URL} --namespace catalog" in SESSION.read_text(encoding="utf-8")
    # The AWS CLI examples use that key, and only that one.
    keys = set(re.findall(r'"S": "(catalog:[0-9a-f-]+)"', CLI.read_text(encoding="utf-8")))
    assert keys == {computed}


def _item(key: str, *, expired: bool) -> dict[str, Any]:
    now = time.time()
    expires = now - 3600 if expired else now + 3600
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(expires))
    return {
        "key": {"S": key},
        "v": {"N": "1"},
        "kind": {"S": "response"},
        "namespace": {"S": key.split(":")[0]},
        "url": {"S": URL},
        "status": {"N": "200"},
        "created": {"S": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 7200))},
        "expires": {"S": stamp},
        "ttl": {"N": str(int(expires))},
        "body_size": {"N": "44"},
        "body_encoding": {"S": "identity"},
    }


def test_the_aws_cli_commands_run_as_written(
    moto_server: MotoServer, table: str, tmp_path: Path
) -> None:
    client = dynamodb_client(moto_server.endpoint)
    key = sample_key()
    client.put_item(TableName=table, Item=_item(key, expired=False))
    client.put_item(TableName=table, Item=_item("catalog:0000000000000001", expired=True))
    client.put_item(TableName=table, Item=_item("other:0000000000000002", expired=False))

    calls = run_with_fake_aws(CLI, tmp_path)
    assert [call[:2] for call in calls] == [
        ["dynamodb", "get-item"],
        ["dynamodb", "delete-item"],
    ] + [["dynamodb", "scan"]] * 3
    answers = []
    for call in calls:
        method, parameters = api_parameters(call)
        _check_names_are_used(parameters)
        answers.append(getattr(client, method)(**parameters))
    got, _deleted, namespace, count, expired = answers
    assert got["Item"]["url"] == {"S": URL} and "body" not in got["Item"]
    assert {item["key"]["S"] for item in namespace["Items"]} == {"catalog:0000000000000001"}
    assert count["Count"] == 1 and "Items" not in count
    assert {item["key"]["S"] for item in expired["Items"]} == {"catalog:0000000000000001"}


def _check_names_are_used(parameters: dict[str, Any]) -> None:
    """DynamoDB's rule (ValidationException otherwise): every expression attribute name is
    used by an expression of the same call."""
    names = parameters.get("ExpressionAttributeNames", {})
    expressions = " ".join(
        str(parameters[p])
        for p in ("ProjectionExpression", "FilterExpression", "KeyConditionExpression")
        if p in parameters
    )
    for name in names:
        assert re.search(rf"{re.escape(name)}\b", expressions), (name, parameters)
    if parameters.get("Select") == "COUNT":
        assert "ProjectionExpression" not in parameters


def test_a_count_that_keeps_an_unused_name_is_refused(moto_server: MotoServer, table: str) -> None:
    """What the page warns about: --select COUNT with #u still named fails."""
    client = dynamodb_client(moto_server.endpoint)
    with pytest.raises(client.exceptions.ClientError, match=r"ValidationException|unused"):
        client.scan(
            TableName=table,
            Select="COUNT",
            FilterExpression="begins_with(#k, :p)",
            ExpressionAttributeNames={"#k": "key", "#u": "url"},
            ExpressionAttributeValues={":p": {"S": "catalog:"}},
        )


def test_the_cli_options_are_the_documented_ones() -> None:
    for call in (line.split() for line in CLI.read_text(encoding="utf-8").splitlines()):
        if call[:2] == ["aws", "dynamodb"]:
            assert options(call[2:]).get("table-name") == "http_cache"
