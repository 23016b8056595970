"""Shapes shared by the sections."""

from __future__ import annotations

from typing import Any


def root_variable(name: str, description: str, type: str, value: Any) -> dict[str, Any]:
    """A root variable: declared without default in variables.tf, set in terraform.tfvars."""
    return {"name": name, "description": description, "type": type, "value": value}


def root_output(name: str, description: str, value: str, sensitive: bool = False) -> dict[str, Any]:
    """A root output, re-exporting a module output."""
    return {"name": name, "description": description, "value": value, "sensitive": sensitive}
