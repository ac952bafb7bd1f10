"""Verifies a webhook delivery with the Standard Webhooks reference implementation (the
`standardwebhooks` package from PyPI), independently of quire's own signing code.

Reads {"secret": "whsec_...", "headers": {...}, "body": "..."} as JSON on stdin; exits 0 and
prints the verified payload when the signature holds, exits 1 otherwise.
"""

import json
import sys

from standardwebhooks import Webhook, WebhookVerificationError

message = json.load(sys.stdin)
try:
    payload = Webhook(message["secret"]).verify(message["body"], message["headers"])
except WebhookVerificationError as error:
    print(f"not verified: {error}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(payload))
