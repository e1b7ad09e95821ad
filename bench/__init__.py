"""The xregion-sync benchmark (`make bench`): AWS API calls, Step Functions state
transitions and cost, payload sizes, wall time and handler import time, measured on
emulated AWS (moto) for N jobs. See __main__.py for the options."""
