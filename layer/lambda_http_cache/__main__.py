"""``python -m lambda_http_cache``: the cache admin command (see :mod:`lambda_http_cache.admin`)."""

import sys

from .admin import main

if __name__ == "__main__":
    sys.exit(main())
