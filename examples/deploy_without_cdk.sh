#!/usr/bin/env bash
# Without CDK: the table, a policy for one namespace and the key secret from the plain
# CloudFormation template, then the layer zip of `make layer`, published by hand.
set -euo pipefail

aws cloudformation deploy --template-file examples/http_cache_table.yaml \
  --stack-name http-cache --capabilities CAPABILITY_IAM --parameter-overrides Namespace=catalog

aws lambda publish-layer-version --layer-name lambda-http-cache \
  --zip-file fileb://dist/lambda_http_cache-0.1.0-layer.zip \
  --compatible-runtimes python3.11 python3.12 python3.13 python3.14 \
  --compatible-architectures x86_64 arm64
