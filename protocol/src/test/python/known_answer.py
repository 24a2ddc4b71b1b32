#!/usr/bin/env python3
"""Recomputes the worked example of docs/PROTOCOL.md (sections 10 and 12) from the text of the spec alone,
independently of the Java implementation: HMAC-SHA256 from the standard library, HKDF and AES-256-GCM from the
`cryptography` package. KnownAnswerTest asserts the same values; run this to check them (python3 known_answer.py)."""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand


def mac(key, label, *pieces):
    return hmac.new(key, label + b"\0" + b"".join(pieces), hashlib.sha256).digest()


def header(version, ftype, flags, stream_id, seq, length):
    return struct.pack(">BBBBIQI", version, ftype, flags, 0, stream_id, seq, length)


secret = b"example-token-secret"
nonce_c = bytes(range(0x00, 0x20))
nonce_s = bytes(range(0x80, 0xA0))
session_id = bytes(range(0xA0, 0xB0))
token_id = b"default"

# HELLO: versions 2..2, intent NEW, no session id, capabilities DEFLATE|ENCRYPTED, timestamp, last received 0
hello_body = struct.pack(">BBBBIqQ", 2, 2, 0, 0, 0x5, 1700000000000, 0) + nonce_c + struct.pack(">H", len(token_id)) + token_id
hello = header(1, 0x01, 0, 0, 0, len(hello_body)) + hello_body
# CHALLENGE: version 2, agreed capabilities ENCRYPTED (the server does not compress)
challenge_body = struct.pack(">BI", 2, 0x4) + nonce_s
challenge = header(2, 0x02, 0, 0, 0, len(challenge_body)) + challenge_body
mac_c = mac(secret, b"splitstream client proof", hello, challenge)
session_key = mac(secret, b"splitstream session key", nonce_c, nonce_s, session_id)
fields = session_id + struct.pack(">QII", 0, 65536, 262144)
mac_s = mac(secret, b"splitstream server proof", hello, challenge, mac_c, fields)
welcome = header(2, 0x04, 0, 0, 0, 64) + fields + mac_s

# Section 12: frame keys of this leg
salt = hashlib.sha256(hello + challenge).digest()
c2s = HKDF(hashes.SHA256(), 32, salt, b"splitstream v2 client to server").derive(session_key)
s2c = HKDF(hashes.SHA256(), 32, salt, b"splitstream v2 server to client").derive(session_key)


def epoch_key(base, epoch):
    return HKDFExpand(hashes.SHA256(), 32, b"splitstream v2 epoch" + struct.pack(">Q", epoch)).derive(base)


def seal(base, counter, inner):
    outer = header(2, 0x30, 0, 0, counter, len(inner) + 16)
    nonce = b"\0\0\0\0" + struct.pack(">Q", counter)
    return outer + AESGCM(epoch_key(base, counter >> 16)).encrypt(nonce, inner, outer)


# The client's first sealed frame: DATA on stream 1, seq 1, payload "hello"
data = header(2, 0x12, 0, 1, 1, 5) + b"hello"
sealed_data = seal(c2s, 1, data)
# The server's first sealed frame: PING with opaque 42
ping = header(2, 0x16, 0, 0, 0, 8) + struct.pack(">Q", 42)
sealed_ping = seal(s2c, 1, ping)

# Section 3: a ROUTE_LOG (unencrypted here): service "web", via TOKEN, GET /index.html, 200, 3100 us, 0 bytes in,
# 1234 bytes out, none skipped
def string(b):
    return struct.pack(">H", len(b)) + b


route_log_body = struct.pack(">BHIQQQ", 1, 200, 0, 3100, 0, 1234) + string(b"web") + string(b"GET") + string(b"/index.html")
route_log = header(2, 0x22, 0, 0, 0, len(route_log_body)) + route_log_body

# Section 3: ROUTE_LOGS (unencrypted here) carrying that report and a second one: service "web", via HOST, POST /api,
# 201, 850 us, 12 bytes in, 2 bytes out, 3 requests skipped before it
second_body = struct.pack(">BHIQQQ", 2, 201, 3, 850, 12, 2) + string(b"web") + string(b"POST") + string(b"/api")
route_logs_body = struct.pack(">H", 2) + route_log_body + second_body
route_logs = header(2, 0x23, 0, 0, 0, len(route_logs_body)) + route_logs_body

for name, value in [
    ("HELLO", hello),
    ("CHALLENGE", challenge),
    ("macC", mac_c),
    ("sessionKey", session_key),
    ("WELCOME", welcome),
    ("c2s", c2s),
    ("s2c", s2c),
    ("c2s epoch 0", epoch_key(c2s, 0)),
    ("c2s epoch 1", epoch_key(c2s, 1)),
    ("SEALED DATA", sealed_data),
    ("SEALED PING", sealed_ping),
    ("ROUTE_LOG", route_log),
    ("ROUTE_LOGS", route_logs),
]:
    print(f"{name:12} {value.hex()}")
