"""ntpd_py: an NTPv4 daemon with Autokey (RFC 5906), wire-compatible with classic ntpd 4.2.8."""

__version__ = "0.1.0"
