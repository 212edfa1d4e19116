"""Carrying out decisions: order manager, trade states, basis executor, approved proposals,
the risk desk, reconciliation and flatten. May import operator, exchanges, marketdata, risk, state."""
