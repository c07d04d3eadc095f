"""The adapter SDK: api (the contract), registry (discovery), testing (conformance kit)."""
