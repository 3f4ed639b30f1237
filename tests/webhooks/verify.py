"""Verifies a received webhook with the `standardwebhooks` library (not ours).

Usage: verify.py <secret> <json: {"headers": {...}, "body": "..."}>; prints the verified
payload as JSON, or exits 1 with the library's error.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook


def main():
    secret = sys.argv[1]
    received = json.loads(sys.argv[2])
    try:
        payload = Webhook(secret).verify(received["body"], received["headers"])
    except Exception as e:  # noqa: BLE001 - report the verifier's refusal
        print(f"refused: {type(e).__name__}: {e}")
        sys.exit(1)
    print(json.dumps(payload))


if __name__ == "__main__":
    main()
