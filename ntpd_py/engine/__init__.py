"""The sans-IO NTP host: bytes and a time in, datagrams and typed events out.

host.py (NtpHost: receive_datagram / handle_timers / next_timer / next_event), association.py (peer state and
the poll state machine), restrict.py (restrict and discard), authenticator.py (the authentication hook Autokey
plugs into), events.py (what the host hands its shell: DatagramToSend, LogLine, StatsRecord, PeerEvent...),
status.py (ntpd's event codes and status words).
"""
