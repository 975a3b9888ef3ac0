"""Bluesky takes no options (reference A8)."""

from pqdrop.platforms.rules import Platform

PLATFORM = Platform(name="bluesky", label="Bluesky", options={})
