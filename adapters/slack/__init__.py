"""Slack: `/reason`, `/quota`, @-mentions and thread replies, over HTTP or Socket Mode."""
