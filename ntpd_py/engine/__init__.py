"""The sans-IO NTP host: bytes and a time in, bytes and events out.

host.py (NtpHost: receive_datagram / handle_timers / next_timer), association.py (peer state and the
poll state machine), restrict.py (restrict and discard), auth.py (the authentication hook Autokey plugs
into), events.py (event codes and status words).
"""
