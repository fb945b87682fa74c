"""Prints an HS256 JWT for the benchmarks: hs256_token.py SECRET_B64URL KID ISSUER (audience api, a day long)."""
import base64, hashlib, hmac, json, sys, time

secret, kid, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
head = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
body = b64(json.dumps({"iss": issuer, "aud": "api", "sub": "u1", "exp": int(time.time()) + 86400}).encode())
print(f"{head}.{body}." + b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()))
