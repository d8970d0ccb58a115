"""Model: text to topics to fingerprints, neighbours and actions; no store."""
