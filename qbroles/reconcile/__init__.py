"""Making IAM match the spec: desired and observed roles, actions, plan, apply, verify."""
