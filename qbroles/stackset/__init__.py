"""qbroles stackset: the roles in many accounts, through a CloudFormation stack set."""
