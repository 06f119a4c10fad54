#!/usr/bin/env python3
"""Write the hand-made seeds of fuzz/corpus/ (valid inputs the fuzzers start from).

Run from fuzz/: `python3 make-seeds.py`. The RADIUS requests are signed with the fuzz
fixture's secret (tessera_radiusd::fuzzing::SECRET); the handler's seeds start with the byte
that picks the client (0: append, 1: challenge, 2: otp-only).
"""
import hashlib, hmac, os, struct

SECRET = b"testing123-long-secret"


def hide(password, authenticator):
    p = password + b"\0" * (-len(password) % 16 or (16 if not password else 0))
    out, prev = b"", authenticator
    for i in range(0, len(p), 16):
        b = hashlib.md5(SECRET + prev).digest()
        c = bytes(x ^ y for x, y in zip(p[i:i + 16], b))
        out, prev = out + c, c
    return out


def attr(t, v):
    return bytes([t, len(v) + 2]) + v


def packet(code, ident, auth, attrs, sign=True):
    body = b"".join(attrs)
    if sign:
        body = attr(80, b"\0" * 16) + body
    raw = bytearray(struct.pack(">BBH", code, ident, 20 + len(body)) + auth + body)
    if sign:
        raw[22:38] = hmac.new(SECRET, bytes(raw), "md5").digest()
    return bytes(raw)


def write(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    with open(f"corpus/{target}/{name}", "wb") as f:
        f.write(data)


auth = bytes(range(16))
nas = [attr(4, bytes([192, 0, 2, 1])), attr(32, b"gw1"), attr(31, b"203.0.113.9")]
requests = {
    "pap-password-code": packet(1, 1, auth, [attr(1, b"alice"), attr(2, hide(b"hunter2123456", auth))] + nas),
    "pap-password": packet(1, 2, auth, [attr(1, b"alice"), attr(2, hide(b"hunter2", auth))] + nas),
    "pap-code": packet(1, 3, auth, [attr(1, b"alice"), attr(2, hide(b"123456", auth))]),
    "pap-unenrolled": packet(1, 4, auth, [attr(1, b"bob"), attr(2, hide(b"bobpass", auth))] + nas),
    "state-answer": packet(1, 5, auth, [attr(1, b"alice"), attr(2, hide(b"654321", auth)), attr(24, b"\x01" * 16)]),
    "chap": packet(1, 6, auth, [attr(1, b"alice"), attr(3, b"\x01" + b"c" * 16)]),
    "eap": packet(1, 7, auth, [attr(1, b"alice"), attr(79, b"\x02\x01\x00\x05\x01")]),
    "mschap": packet(1, 8, auth, [attr(1, b"alice"), attr(26, struct.pack(">I", 311) + attr(11, b"x" * 16))]),
    "unsigned": packet(1, 9, auth, [attr(1, b"alice"), attr(2, hide(b"hunter2", auth)), attr(33, b"proxy")], sign=False),
    "status-server": packet(12, 10, auth, []),
    "ipv6-nas": packet(1, 11, auth, [attr(1, b"bob"), attr(2, hide(b"x", auth)), attr(95, bytes(16))]),
}
for name, data in requests.items():
    write("radius_codec", name, data)
    write("radius_handler", name, bytes([int(hashlib.md5(name.encode()).hexdigest(), 16) % 3]) + data)

write("config", "minimal", b'[store]\npath = "/var/lib/tessera/t.db"\n')
write("config", "radius", b'[radius]\nmode = "append"\nlisten = ["127.0.0.1:1812"]\n\n'
      b'[[radius.clients]]\nname = "vpn"\naddress = "192.0.2.0/24"\nsecret = "a-long-shared-secret"\n')
write("config", "policy", b'[policy]\nmax_failures = 5\nmax_tries = 3\n[argon2]\nmemory_kib = 19456\niterations = 2\n'
      b'[totp]\nwindow = 1\n[email]\nsmtp_host = "127.0.0.1"\nfrom = "t@example.com"\nmin_interval = "30s"\n')
write("config", "syntax-error", b'[store\npath = 1\n')

write("pam_args", "all", b"config=/etc/tessera/tessera.toml\0nullok\0debug\0try_first_pass\0forward_pass")
write("pam_args", "use-first-pass", b"use_first_pass\0config=/etc/t.toml")
write("pam_args", "conflict", b"try_first_pass\0use_first_pass")

write("google_auth", "totp", b'JBSWY3DPEHPK3PXP\n" RATE_LIMIT 3 30 1700000000\n" WINDOW_SIZE 17\n'
      b'" DISALLOW_REUSE 56666666 56666667\n" TOTP_AUTH\n" STEP_SIZE 30\n12345678\n87654321\n')
write("google_auth", "hotp", b'JBSWY3DPEHPK3PXP\n" HOTP_COUNTER 1\n12345678\n')

import base64

# Valid public keys for the pam_u2f seeds: the P-256 generator (x ‖ y) and the Ed25519 base point.
P256_G = bytes.fromhex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
                       "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")
ED25519_B = bytes.fromhex("58" + "66" * 31)
kh = bytes(range(64))
b64 = lambda b: base64.b64encode(b).decode()
es256 = f"{b64(kh)},{b64(P256_G)},es256,+presence"
eddsa = f"*,{b64(ED25519_B)},eddsa,+presence+pin"
old = f"{base64.urlsafe_b64encode(kh).decode().rstrip('=')},04{P256_G.hex()}"
write("pam_u2f", "new", f"alice:{es256}\n".encode())
write("pam_u2f", "resident", f"bob:{eddsa}:{es256[:-9]}+verification\n".encode())
write("pam_u2f", "old", f"carol:{old}\n".encode())
write("pam_u2f", "file", f"# mappings\n\nalice:{es256}:{old}\r\nbob:{eddsa}\nalice:{old}\n"
      f"dave:{b64(kh)},{b64(ED25519_B)},rs256,+presence\neve\n".encode())

write("otpauth", "label", "My Org\0alice@host:x?&=#\u00e9\0" .encode() + b"12345678901234567890")
write("otpauth", "base32", b"JBSW Y3DP-EHPK 3PXP====")
