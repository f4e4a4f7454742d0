"""The vocabulary every layer shares: role state, actions, checks, reports, progress events."""
