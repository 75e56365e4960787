"""Structured turns (design.md contract 6) as pure rules, shared by labeling (declared
tools), conversations (save, checks, review, import, drafts) and exports."""
