"""`make bench`: latency, DynamoDB calls, item size, throughput and cold start, side by side.

Run with ``python -m bench.run`` (``--help`` for the options). Everything runs locally: a
DynamoDB-compatible server in a child process and an HTTP origin in this process.
"""
