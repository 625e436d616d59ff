"""Tests written to kill surviving mutants of ntpd_py/engine/ (bench/mutation/run.py, issue 13).

Each asserts behaviour an operator or a peer can see (bytes out, counters, ntpq-visible variables) through NtpHost's
public methods, so that they survive refactors of the engine's internals.
"""
