"""Tests written to kill surviving mutants of ntpd_py/autokey/ (bench/mutation/run.py, issue 13).

Each asserts behaviour a peer or an operator can see (bytes out, flags, counters, peer variables) through public
methods, so that they survive refactors of the internals.
"""
