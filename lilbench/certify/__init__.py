"""Certified lower bounds on robust accuracy: what no attack can go below."""
