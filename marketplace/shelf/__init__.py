"""The shelf (货架): products as buyers see them (trading standard §3)."""
