"""Outreach workers' dashboard (issue 5): an aiohttp app that reads the Rasa tracker store."""
