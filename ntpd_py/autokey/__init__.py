"""Autokey (RFC 5906) as ntpd 4.2.8p15 speaks it: see docs/autokey.md for the module map and deviations."""
