"""Key material compatible with ntp-keygen / ntpd 4.2.8: generate, write, read.

Modules: files (names, headers, atomic writes, links), pem (PKCS#8 and traditional PEM, raw integers),
cert (X.509 build/parse/verify, cert_sign), identity.iff / identity.gq / identity.mv (parameter sets),
store (what the daemon opens in a keys directory), keygen (ntp-keygen as an API), symmetric (ntp.keys),
cli (`ntpd-py-keygen`).  See docs/keys.md.
"""
