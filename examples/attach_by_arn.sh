#!/usr/bin/env bash
# Attach the layer to an existing function with the AWS CLI. The secret's value then sits in
# the function's configuration, set by hand: set it again after the secret changes.
# Placeholders: my-function, my-function-role, and <region>:<account-id> in the policy.
set -euo pipefail

LAYER_ARN=$(aws ssm get-parameter --name /lambda-http-cache/layer-arn \
  --query Parameter.Value --output text)
SECRET_ARN=$(aws ssm get-parameter --name /lambda-http-cache/key-secret-arn \
  --query Parameter.Value --output text)
KEY_SECRET=$(aws secretsmanager get-secret-value --secret-id "$SECRET_ARN" \
  --query SecretString --output text)

# --layers and --environment replace the whole list: repeat what the function already has.
aws lambda update-function-configuration --function-name my-function \
  --layers "$LAYER_ARN" \
  --environment "Variables={HTTP_CACHE_TABLE=http_cache,HTTP_CACHE_NAMESPACE=my-function,\
HTTP_CACHE_KEY_SECRET=$KEY_SECRET,HTTP_CACHE_SERVICE=http_cache}"

# GetItem and PutItem on the items of the function's namespace only.
aws iam put-role-policy --role-name my-function-role --policy-name http-cache \
  --policy-document '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
    "Resource": "arn:aws:dynamodb:<region>:<account-id>:table/http_cache",
    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["my-function:*"]}}}]}'
