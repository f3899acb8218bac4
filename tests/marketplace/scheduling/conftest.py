"""The scheduling core is pure: these tests need no database."""
