"""Symmetric keys as ntpd uses them: keyfile.py (the keys file, read and written), mac.py (the MAC)."""
