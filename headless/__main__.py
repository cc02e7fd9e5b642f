"""`python -m headless ...`: the same entry as headless/annotate.py."""

from headless.annotate import run_as_script

run_as_script()
