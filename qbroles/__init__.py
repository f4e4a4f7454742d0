"""qbroles: the two IAM roles of an Amazon ECS / Fargate application, created and kept correct."""

__version__ = "0.1.0"
