"""Catalyst Monitor: polls news feeds, matches them against an investment thesis's catalysts,
records the matches and posts signed digests to webhooks."""

__version__ = "0.1.0"
