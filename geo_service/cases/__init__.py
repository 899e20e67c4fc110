"""Anti-corruption cases: workflow, parties, notes, attachments, evidence links, evidence packs."""
