"""Adaptive Cards: templates under ``cards/`` filled from typed view models."""
