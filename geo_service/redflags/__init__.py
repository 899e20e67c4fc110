"""Red flags on public money and public land: contracts and land documents against what the satellites saw."""
