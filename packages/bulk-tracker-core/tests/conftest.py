"""Hypothesis for this suite: no timing health checks, which fail on a loaded 2-core CI machine, not on the code."""

from hypothesis import HealthCheck, settings

settings.register_profile("bulk_tracker", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bulk_tracker")
