"""Personalization."""
