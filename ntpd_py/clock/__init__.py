"""Clock algorithms of RFC 5905: filter.py (clock filter), select.py (selection, cluster, combine),
discipline.py (the clock discipline behind the ClockAdjuster interface; off unless `enable ntp`)."""
