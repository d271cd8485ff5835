#!/usr/bin/env python3
"""Make a JWS compact token for car's tests, signed by the openssl command line
(never by car).  The header and payload are given as JSON text, so tests can
write any header (alg none, a wrong alg, no kid...).

  mktoken.py --header '{"alg":"HS256","kid":"k1"}' --payload '{"exp": 1}' \\
             --sign hs256 --key secret.txt          # HMAC-SHA256 with the file's bytes
             --sign rs256 --key rsa_private.pem     # RSASSA-PKCS1-v1_5 SHA-256
             --sign es256 --key ec_private.pem      # ECDSA P-256 SHA-256, JWS r||s
             --sign none                            # empty signature
             --sign raw --sig 'base64url text'      # a signature given as is

Relative times: in --payload, "NOW+60" / "NOW-30" (quoted) become integers.
"""
import argparse
import base64
import json
import re
import subprocess
import sys
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_to_raw(der: bytes, size: int) -> bytes:
    # ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        v = der[i + 2:i + 2 + n].lstrip(b"\x00")
        out += v.rjust(size, b"\x00")
        i += 2 + n
    return out


def openssl(args, data: bytes) -> bytes:
    return subprocess.run(["openssl"] + args, input=data, check=True, capture_output=True).stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--header", required=True)
    ap.add_argument("--payload", required=True)
    ap.add_argument("--sign", required=True, choices=["hs256", "hs384", "rs256", "es256", "none", "raw"])
    ap.add_argument("--key")
    ap.add_argument("--sig", default="")
    a = ap.parse_args()
    now = int(time.time())
    payload = re.sub(r'"NOW([+-]\d+)?"', lambda m: str(now + int(m.group(1) or 0)), a.payload)
    signing_input = (b64url(a.header.encode()) + "." + b64url(payload.encode())).encode()
    if a.sign in ("hs256", "hs384"):
        key = open(a.key, "rb").read()
        digest = "-sha256" if a.sign == "hs256" else "-sha384"
        sig = openssl(["dgst", digest, "-mac", "HMAC", "-macopt", "hexkey:" + key.hex(), "-binary"], signing_input)
    elif a.sign == "rs256":
        sig = openssl(["dgst", "-sha256", "-sign", a.key, "-binary"], signing_input)
    elif a.sign == "es256":
        sig = der_to_raw(openssl(["dgst", "-sha256", "-sign", a.key, "-binary"], signing_input), 32)
    elif a.sign == "none":
        sig = b""
    else:
        sys.stdout.write(signing_input.decode() + "." + a.sig)
        return
    sys.stdout.write(signing_input.decode() + "." + b64url(sig))


if __name__ == "__main__":
    main()
