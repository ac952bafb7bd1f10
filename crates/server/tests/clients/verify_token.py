"""Verifies an access token with an independent JWT library (PyJWT with cryptography from
PyPI), using only a JWK Set document such as /.well-known/jwks.json serves: the key named by
the token's `kid`, the algorithm that key states, the issuer and the audience.

Reads {"jwks": {...}, "token": "...", "issuer": "...", "audience": "..."} as JSON on stdin;
exits 0 and prints the verified claims when the token holds, exits 1 otherwise.
"""

import json
import sys

import jwt

message = json.load(sys.stdin)
try:
    kid = jwt.get_unverified_header(message["token"]).get("kid")
    keys = [key for key in jwt.PyJWKSet.from_dict(message["jwks"]).keys if key.key_id == kid]
    if not keys:
        raise jwt.InvalidTokenError(f"no key {kid!r} in the key set")
    claims = jwt.decode(
        message["token"],
        keys[0].key,
        algorithms=[keys[0].algorithm_name],
        audience=message["audience"],
        issuer=message["issuer"],
        options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud"]},
    )
except jwt.InvalidTokenError as error:
    print(f"not verified: {error}", file=sys.stderr)
    sys.exit(1)
print(json.dumps(claims))
