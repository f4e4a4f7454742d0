"""Policy documents: building and comparing them, evaluating them locally, and security findings."""
