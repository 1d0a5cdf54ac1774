"""The cache construct in a CDK app of your own.

Copy cdk/http_cache_construct.py and cdk/http_cache_monitoring.py (the dashboard and alarms,
which the first imports) beside this file, run `make layer` in your clone of lambda-http-cache,
and give the construct the folder that wrote: a copy of the construct cannot find it alone.
"""

from pathlib import Path
from typing import Any

from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from http_cache_construct import HttpCache

# Where `make layer` wrote the zip and its manifest, in your clone of lambda-http-cache.
LAYER_DIR = Path("../lambda-http-cache/dist")


class MyStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, layer_dir: Path = LAYER_DIR, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # The table "http_cache", the layer, the key secret, SSM parameters, dashboard, alarms.
        cache = HttpCache(self, "HttpCache", layer_dir=layer_dir)
        fn = lambda_.Function(
            self,
            "Fn",
            runtime=cache.bytecode_runtime,  # the newest runtime the layer has bytecode for
            architecture=lambda_.Architecture.ARM_64,
            handler="app.handler",
            code=lambda_.Code.from_asset("src"),
        )
        # The layer for arm64 and that runtime; HTTP_CACHE_TABLE, HTTP_CACHE_NAMESPACE,
        # HTTP_CACHE_KEY_SECRET, HTTP_CACHE_SERVICE; GetItem + PutItem on fn's namespace.
        cache.attach(fn)


if __name__ == "__main__":
    app = App()
    MyStack(app, "MyStack")
    app.synth()
