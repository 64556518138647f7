"""Accounts: users and their roles, logging in and out, sessions kept fresh."""
