"""a2a-coop conformance suite: requirement registry, vector generator and vectors."""
