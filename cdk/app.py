"""Entry point of the CDK app (cdk.json's ``app``): ``cdk synth``, ``cdk deploy``, ``make synth``.

Run by the CDK command line, it only synthesizes: the command line reports warnings and
errors (cdk-nag's among them). Run directly (``make synth``: no command line, no npm, no
credentials), it reports them itself and exits non-zero on an error, as ``cdk synth`` would.
"""

from __future__ import annotations

import os
import sys

from http_cache_stacks import build_app


def main() -> int:
    assembly = build_app().synth()
    if os.environ.get("CDK_CLI_VERSION"):
        return 0
    errors = 0
    for stack in assembly.stacks:
        for message in stack.messages:
            level = str(message.level.value).lower()
            if level in ("warning", "error"):
                print(f"[{level}] {message.id}: {message.entry.data}", file=sys.stderr)
                errors += level == "error"
        print(f"{stack.stack_name}: {assembly.directory}/{stack.template_file}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
